package inject

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"golang.org/x/net/html"
)

// lookahead bounds how much of a page is held while looking for the
// insertion point. Pages whose <head> runs longer get the tags at the end.
const lookahead = 64 << 10

// chunkSize is the copy buffer for re-encoded bodies.
const chunkSize = 32 << 10

// body is the injected response body. It pulls from the upstream as the
// client reads: first the look-ahead (until </head>, <body>, EOF or the
// bound), then the rest chunk by chunk, so memory stays flat and the first
// bytes leave as soon as the insertion point is known.
type body struct {
	inj      *Injector
	upstream io.ReadCloser
	in, out  coding
	csp      bool // the response carries a CSP header: our tags need the nonce
	nonce    string

	src        io.Reader // decoded upstream
	releaseDec func()
	enc        encoder // nil for identity output
	releaseEnc func()
	pend       *pending
	chunk      []byte

	scanned   bool
	sized     bool   // identity in and out, and the response says its length
	consumed  int    // upstream (decoded) bytes the look-ahead read
	appendTag []byte // emitted at EOF when no insertion point was found
	// widgetTag is the widget loader, emitted after the last byte unless
	// the page turns out to carry the widget's id somewhere: a site that
	// embeds the widget at the end of <body> must not get a second one.
	// The HTML parser puts a script after </html> at the end of <body>.
	widgetTag []byte
	tail      [len(widgetID) - 1]byte // the stream's last bytes, for an id split across reads
	tailN     int
	done      bool
	err       error
	closed    bool
}

// Read implements io.Reader.
func (b *body) Read(p []byte) (int, error) {
	for {
		if b.pend.len() > 0 {
			n := b.pend.read(p)
			if b.sized && n < len(p) && b.pend.len() == 0 && !b.done {
				n += b.topUp(p[n:])
			}
			return n, nil
		}
		if b.done {
			return 0, b.err
		}
		if !b.scanned {
			b.scan()
			continue
		}
		if b.enc == nil {
			n, err := b.src.Read(p)
			b.watch(p[:n])
			if err != nil {
				b.finish(err)
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if b.chunk == nil {
			b.chunk = b.inj.chunks.Get()
		}
		n, err := b.src.Read(b.chunk)
		b.watch(b.chunk[:n])
		if n > 0 {
			if _, werr := b.enc.Write(b.chunk[:n]); werr != nil {
				b.fail(fmt.Errorf("re-encode %s: %w", b.out.name(), werr))
				continue
			}
		}
		if err != nil {
			b.finish(err)
			continue
		}
		// Flushing per upstream read keeps a slow upstream's bytes moving to
		// the client instead of sitting in the compressor.
		if ferr := b.enc.Flush(); ferr != nil {
			b.fail(fmt.Errorf("flush %s: %w", b.out.name(), ferr))
		}
	}
}

// topUp reads once more from the upstream into what the look-ahead left of
// p, so that the head and the bytes already received behind it reach the
// client in one write rather than two or three. It is only used for a body
// of known length: that upstream had the whole page before it answered, so
// the read does not hold the head back waiting for a slow stream (an
// unknown length may be a page that flushes its head early on purpose).
func (b *body) topUp(p []byte) int {
	n, err := b.src.Read(p)
	b.watch(p[:n])
	if err != nil {
		b.finish(err)
	}
	return n
}

// sink is where decoded output goes: the compressor or the pending buffer.
func (b *body) sink() io.Writer {
	if b.enc != nil {
		return b.enc
	}
	return b.pend
}

// finish handles the end of the upstream body.
func (b *body) finish(err error) {
	if !errors.Is(err, io.EOF) {
		b.fail(fmt.Errorf("read upstream body: %w", err))
		return
	}
	for _, tag := range [][]byte{b.appendTag, b.widgetTag} {
		if tag != nil {
			_, _ = b.sink().Write(tag) // writes into memory cannot fail but for a closed encoder
		}
	}
	b.appendTag, b.widgetTag = nil, nil
	if b.enc != nil {
		if cerr := b.enc.Close(); cerr != nil {
			b.fail(fmt.Errorf("close %s: %w", b.out.name(), cerr))
			return
		}
	}
	b.done, b.err = true, io.EOF
}

func (b *body) fail(err error) {
	b.done, b.err = true, err
	b.inj.log.Warn("inject: response body aborted", slog.String("error", err.Error()))
}

// Close implements io.Closer. It returns pooled resources and closes the
// upstream body; it is safe to call more than once.
func (b *body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.releaseDec != nil {
		b.releaseDec()
	}
	if b.releaseEnc != nil {
		b.releaseEnc()
	}
	if b.chunk != nil {
		b.inj.chunks.Put(b.chunk)
	}
	b.inj.pendings.put(b.pend)
	b.pend = nil
	if err := b.upstream.Close(); err != nil {
		return fmt.Errorf("close upstream body: %w", err)
	}
	return nil
}

// scan reads the look-ahead, decides where the tags go and queues the
// look-ahead (with the tags) for output.
func (b *body) scan() {
	b.scanned = true
	src, release, err := b.inj.codecs.decoder(b.in, b.upstream)
	if err != nil {
		b.inj.count("error")
		b.fail(fmt.Errorf("decode %s body: %w", b.in.name(), err))
		return
	}
	b.src, b.releaseDec = src, release
	if b.out != identity {
		b.enc, b.releaseEnc = b.inj.codecs.encoder(b.out, b.pend)
	}

	rec := &recorder{src: b.src, buf: b.inj.lookaheads.Get()[:0], limit: lookahead}
	res := findInsertion(rec, b.inj.opt.Paths.Bootstrap)
	data := rec.buf
	defer b.inj.lookaheads.Put(data) // the recorder may have grown it
	b.consumed = len(data)

	w := b.sink()
	write := func(p []byte) {
		if len(p) > 0 {
			_, _ = w.Write(p) // memory writers; a compressor error resurfaces on Flush/Close
		}
	}
	result := "injected"
	switch {
	case rec.err != nil && !errors.Is(rec.err, io.EOF):
		write(data)
		b.inj.count("error")
		b.fail(fmt.Errorf("read upstream body: %w", rec.err))
		return
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		result = "skipped_charset" // UTF-16: ASCII markup would corrupt the page
		write(data)
	case res.already:
		result = "already"
		write(data)
	case !metasWithinLimits(res.metas):
		result = "skipped_csp_too_large"
		write(data)
	default:
		nonce := ""
		if b.csp || len(res.metas) > 0 {
			nonce = b.nonceValue()
		}
		tag := b.inj.tags.render(nonce)
		b.widgetTag = b.inj.tags.widget(nonce)
		b.watch(data) // drops it again when the look-ahead shows the widget
		end := res.at
		if end < 0 {
			end = len(data)
		}
		off := 0
		for _, m := range res.metas {
			if m.start >= end {
				break
			}
			write(data[off:m.start])
			write(b.inj.rewriteMeta(m, nonce))
			off = m.end
		}
		write(data[off:end])
		if res.at >= 0 {
			write(tag)
		} else {
			b.appendTag = tag
		}
		write(data[end:])
	}
	b.inj.count(result)
	if rec.eof {
		b.finish(io.EOF)
		return
	}
	if b.enc != nil {
		// The head goes out now, not when the compressor's block fills.
		if err := b.enc.Flush(); err != nil {
			b.fail(fmt.Errorf("flush %s: %w", b.out.name(), err))
		}
	}
}

var widgetIDBytes = []byte(widgetID)

// watch drops the pending widget tag once the page shows the widget's id,
// also when the id is split across two reads.
func (b *body) watch(p []byte) {
	if b.widgetTag == nil || len(p) == 0 {
		return
	}
	k := len(b.tail)
	var seam [2 * len(widgetID)]byte
	j := copy(seam[:], b.tail[:b.tailN])
	j += copy(seam[j:], p[:min(len(p), k)])
	if bytes.Contains(seam[:j], widgetIDBytes) || bytes.Contains(p, widgetIDBytes) {
		b.widgetTag = nil
		return
	}
	if len(p) >= k {
		b.tailN = copy(b.tail[:], p[len(p)-k:])
	} else {
		b.tailN = copy(b.tail[:], seam[max(0, j-k):j])
	}
}

func (b *body) nonceValue() string {
	if b.nonce == "" {
		b.nonce = newNonce()
	}
	return b.nonce
}

// recorder feeds the tokenizer and keeps every byte it hands over, up to
// limit; past the limit it reports EOF so the tokenizer stops.
type recorder struct {
	src   io.Reader
	buf   []byte
	limit int
	eof   bool // the upstream body really ended
	err   error
}

func (r *recorder) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	room := r.limit - len(r.buf)
	if room <= 0 {
		return 0, io.EOF
	}
	if len(p) > room {
		p = p[:room]
	}
	n, err := r.src.Read(p)
	r.buf = append(r.buf, p[:n]...)
	if err != nil {
		r.err = err
		r.eof = errors.Is(err, io.EOF)
		if n > 0 {
			// The tokenizer drops a token cut by an error that arrives with
			// data; report the error on the next call instead.
			return n, nil
		}
	}
	return n, err
}

// metaCSP is a <meta http-equiv=Content-Security-Policy> tag in the look-ahead.
type metaCSP struct {
	start, end int
	attrs      []html.Attribute
	selfClose  bool
}

// insertion is what the look-ahead found.
type insertion struct {
	at      int  // byte offset for the tags, -1 for "append at the end"
	already bool // the page already loads our bootstrap
	metas   []metaCSP
}

// findInsertion tokenizes r until the insertion point: before the first
// </head>, else right after the first <body> start tag. Raw-text elements
// (script, style, title, textarea, …) are handled by the tokenizer itself;
// <template> contents are inert and skipped here.
func findInsertion(r io.Reader, bootstrapPath string) insertion {
	z := html.NewTokenizer(r)
	res := insertion{at: -1}
	off, template := 0, 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return res
		}
		start := off
		raw := z.Raw()
		off += len(raw)
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch string(name) {
			case "template":
				if tt == html.StartTagToken {
					template++
				}
			case "body":
				if template == 0 {
					res.at = off
					return res
				}
			case "script":
				if template == 0 && hasAttr {
					for more := true; more; {
						var k, v []byte
						k, v, more = z.TagAttr()
						if string(k) == "src" && bytes.Contains(v, []byte(bootstrapPath)) {
							res.already = true
						}
					}
				}
			case "meta":
				// Most pages carry many <meta> tags and no policy among them.
				if template == 0 && hasAttr && rawContainsFold(raw, "http-equiv") {
					if m, ok := readMetaCSP(z); ok {
						m.start, m.end, m.selfClose = start, off, tt == html.SelfClosingTagToken
						res.metas = append(res.metas, m)
					}
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "template":
				if template > 0 {
					template--
				}
			case "head":
				if template == 0 {
					res.at = start
					return res
				}
			}
		}
	}
}

// metasWithinLimits holds the page's CSP <meta> tags to the limits of the
// header lines: each tag is rewritten, and carries a policy of its own.
func metasWithinLimits(metas []metaCSP) bool {
	if len(metas) > maxCSPPolicies {
		return false
	}
	var contents [maxCSPPolicies]string
	for k, m := range metas {
		for _, a := range m.attrs {
			if a.Key == "content" {
				contents[k] = a.Val
			}
		}
	}
	return cspWithinLimits(contents[:len(metas)])
}

func readMetaCSP(z *html.Tokenizer) (metaCSP, bool) {
	var m metaCSP
	isCSP := false
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		if string(k) == "http-equiv" && strings.EqualFold(strings.TrimSpace(string(v)), "content-security-policy") {
			isCSP = true
		}
		m.attrs = append(m.attrs, html.Attribute{Key: string(k), Val: string(v)})
	}
	return m, isCSP
}

// rawContainsFold reports whether b contains the lower-case ASCII word.
func rawContainsFold(b []byte, word string) bool {
	for i := 0; i+len(word) <= len(b); i++ {
		if bytes.EqualFold(b[i:i+len(word)], []byte(word)) {
			return true
		}
	}
	return false
}

// pending is the output queue between the scanner/compressor and Read.
type pending struct {
	buf []byte
	off int
}

func (p *pending) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	return len(b), nil
}

func (p *pending) len() int { return len(p.buf) - p.off }

func (p *pending) read(dst []byte) int {
	n := copy(dst, p.buf[p.off:])
	p.off += n
	if p.off == len(p.buf) {
		p.buf, p.off = p.buf[:0], 0
	}
	return n
}
