package inject

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/request"
)

// coding is a content coding the injector can decode and produce.
type coding uint8

const (
	identity coding = iota
	codingGzip
	codingDeflate
	codingBr
	codingZstd
	codingUnknown
)

// name is the coding's Content-Encoding token.
func (c coding) name() string {
	switch c {
	case codingGzip:
		return "gzip"
	case codingDeflate:
		return "deflate"
	case codingBr:
		return "br"
	case codingZstd:
		return "zstd"
	case identity:
		return "identity"
	}
	return "unknown"
}

func parseCoding(token string) coding {
	switch strings.ToLower(strings.TrimSpace(token)) {
	case "", "identity":
		return identity
	case "gzip", "x-gzip":
		return codingGzip
	case "deflate":
		return codingDeflate
	case "br":
		return codingBr
	case "zstd":
		return codingZstd
	}
	return codingUnknown
}

// contentCoding reads a response's Content-Encoding. Stacked codings
// ("gzip, br") are reported as unknown: they are rare enough that passing
// them through untouched is the safe answer.
func contentCoding(h http.Header) coding {
	vals := h.Values("Content-Encoding")
	switch len(vals) {
	case 0:
		return identity
	case 1:
		if strings.Contains(vals[0], ",") {
			return codingUnknown
		}
		return parseCoding(vals[0])
	}
	return codingUnknown
}

// outputPreference orders codings by how cheaply the injector produces them
// at a good ratio (BenchmarkEncodings); ties in the client's q-values go to
// the earlier one.
var outputPreference = [...]coding{codingZstd, codingBr, codingGzip, codingDeflate}

// negotiate picks the coding for the injected response from the client's
// Accept-Encoding (RFC 9110 §12.5.3). The upstream's own coding wins when the
// client accepts it, because that is what the upstream chose for this client;
// identity stays identity unless the client refuses it.
//
// compress is set when PrepareRequest asked the upstream for identity on the
// client's behalf: then identity is only the last resort.
func negotiate(acceptEncoding []string, upstream coding, compress bool) coding {
	q := parseAcceptEncoding(acceptEncoding)
	if q.accepts(upstream) && !(compress && upstream == identity) {
		return upstream
	}
	best, bestQ := identity, 0.0
	for _, c := range outputPreference {
		if v := q.quality(c); v > bestQ {
			best, bestQ = c, v
		}
	}
	if bestQ > 0 {
		return best
	}
	return identity // nothing acceptable: identity is the least surprising answer
}

// acceptQ holds the q-values of one Accept-Encoding header.
type acceptQ struct {
	listed   map[coding]float64
	star     float64
	hasStar  bool
	absent   bool // no Accept-Encoding at all: only identity is expected
	identity float64
	hasIdent bool
}

func parseAcceptEncoding(vals []string) acceptQ {
	a := acceptQ{absent: len(vals) == 0}
	for name, qv := range request.Weighted(vals) {
		switch name {
		case "*":
			a.star, a.hasStar = qv, true
		case "identity":
			a.identity, a.hasIdent = qv, true
		default:
			c := parseCoding(name)
			if c == codingUnknown {
				continue
			}
			if a.listed == nil {
				a.listed = make(map[coding]float64, 4)
			}
			a.listed[c] = qv
		}
	}
	return a
}

func (a acceptQ) quality(c coding) float64 {
	if c == identity {
		switch {
		case a.hasIdent:
			return a.identity
		case a.hasStar && a.star == 0:
			return 0
		}
		return 1
	}
	if a.absent {
		return 0
	}
	if v, ok := a.listed[c]; ok {
		return v
	}
	if a.hasStar {
		return a.star
	}
	return 0
}

func (a acceptQ) accepts(c coding) bool { return a.quality(c) > 0 }

// encoder is the common surface of the compressors the injector writes to.
type encoder interface {
	io.Writer
	Flush() error
	Close() error
}

// codecs pools compressors and decompressors: they hold large tables and
// windows, and a busy proxy would otherwise allocate them per response.
type codecs struct {
	gzipW, zlibW, brW, zstdW sync.Pool
	gzipR, brR, zstdR        sync.Pool
}

// Compression settings for on-the-fly output: fast levels, modest windows,
// so that memory per response stays small and throughput high.
const (
	gzipLevel   = 5
	brQuality   = 4
	brLGWin     = 18 // 256 KiB window
	zstdWindow  = 1 << 20
	zstdMaxDecM = 64 << 20
)

func (c *codecs) encoder(cd coding, w io.Writer) (encoder, func()) {
	switch cd {
	case codingGzip:
		if e, ok := c.gzipW.Get().(*gzip.Writer); ok {
			e.Reset(w)
			return e, func() { c.gzipW.Put(e) }
		}
		e, _ := gzip.NewWriterLevel(w, gzipLevel) // the level is a valid constant
		return e, func() { c.gzipW.Put(e) }
	case codingDeflate:
		if e, ok := c.zlibW.Get().(*zlib.Writer); ok {
			e.Reset(w)
			return e, func() { c.zlibW.Put(e) }
		}
		e, _ := zlib.NewWriterLevel(w, gzipLevel)
		return e, func() { c.zlibW.Put(e) }
	case codingBr:
		if e, ok := c.brW.Get().(*brotli.Writer); ok {
			e.Reset(w)
			return e, func() { c.brW.Put(e) }
		}
		e := brotli.NewWriterOptions(w, brotli.WriterOptions{Quality: brQuality, LGWin: brLGWin})
		return e, func() { c.brW.Put(e) }
	case codingZstd:
		if e, ok := c.zstdW.Get().(*zstd.Encoder); ok {
			e.Reset(w)
			return e, func() { c.zstdW.Put(e) }
		}
		e, _ := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow),
			zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithLowerEncoderMem(true))
		return e, func() { c.zstdW.Put(e) }
	}
	return nil, func() {}
}

// decoder wraps r in a decompressor for cd. It reads the stream's header, so
// it is called on the first Read of the body, never in ModifyResponse.
func (c *codecs) decoder(cd coding, r io.Reader) (io.Reader, func(), error) {
	switch cd {
	case codingGzip:
		d, ok := c.gzipR.Get().(*gzip.Reader)
		var err error
		if ok {
			err = d.Reset(r)
		} else {
			d, err = gzip.NewReader(r)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read gzip header: %w", err)
		}
		d.Multistream(true)
		return d, func() { c.gzipR.Put(d) }, nil
	case codingDeflate:
		return deflateReader(r)
	case codingBr:
		d, ok := c.brR.Get().(*brotli.Reader)
		if ok {
			if err := d.Reset(r); err != nil {
				return nil, nil, fmt.Errorf("reset brotli reader: %w", err)
			}
		} else {
			d = brotli.NewReader(r)
		}
		return d, func() { c.brR.Put(d) }, nil
	case codingZstd:
		d, ok := c.zstdR.Get().(*zstd.Decoder)
		var err error
		if ok {
			err = d.Reset(r)
		} else {
			d, err = zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxMemory(zstdMaxDecM))
		}
		if err != nil {
			return nil, nil, fmt.Errorf("start zstd decoder: %w", err)
		}
		// Reset(nil) drops the reference to the upstream body before pooling.
		return d, func() { _ = d.Reset(nil); c.zstdR.Put(d) }, nil
	}
	return r, func() {}, nil
}

// deflateReader accepts both what RFC 9110 means by "deflate" (a zlib
// stream) and the raw DEFLATE data some servers send under that name.
func deflateReader(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 512)
	hdr, err := br.Peek(2)
	if err != nil {
		return nil, nil, fmt.Errorf("read deflate header: %w", err)
	}
	if hdr[0]&0x0f == 8 && (uint16(hdr[0])<<8|uint16(hdr[1]))%31 == 0 {
		zr, err := zlib.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("read zlib header: %w", err)
		}
		return zr, func() { _ = zr.Close() }, nil
	}
	fr := flate.NewReader(br)
	return fr, func() { _ = fr.Close() }, nil
}
