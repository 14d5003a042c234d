package testenv

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
)

// DataverseOptions configure StartDataverse.
type DataverseOptions struct {
	// OP issues the app tokens the stand-in accepts (client-credentials
	// grant of its app registration, audience the stand-in's URL).
	OP *OP
	// DenyCreate answers POST with 403, as for an application user whose
	// security role grants read only.
	DenyCreate bool
}

// Dataverse stands in for a Dataverse environment's Web API
// (/api/data/v9.2/contacts and /accounts), on loopback, following what
// Microsoft documents of it: OData JSON answers with a value array; errors
// as {"error":{"code","message"}}; 401 without a valid bearer token — a
// JWT access token of the OP's app registration for this environment
// (audience the stand-in's URL), checked against the OP's keys; 429 with
// Retry-After (service protection limits); a $filter parser of its own
// that refuses what is not an OData comparison with properly escaped
// string literals. It counts the lookups it answers.
type Dataverse struct {
	// URL is the environment URL (token.contact.org_url).
	URL string

	opts     DataverseOptions
	verifier *oidc.IDTokenVerifier

	mu       sync.Mutex
	records  []DataverseRecord
	lookups  int
	requests int
	badAuth  int
	created  []map[string]string
	down     bool
	throttle int // answer this many more requests with 429
	retry    int // their Retry-After, seconds
	hold     chan struct{}
}

// DataverseRecord is one row of the stand-in: a contact or an account.
type DataverseRecord struct {
	Table    string // contact or account
	ID       string
	Fields   map[string]string
	Inactive bool // statecode 1
}

// StartDataverse starts the stand-in; it stops when the test ends.
func StartDataverse(t testing.TB, opts DataverseOptions) *Dataverse {
	t.Helper()
	if opts.OP == nil {
		t.Fatal("testenv.StartDataverse: an OP is required (it issues the app tokens)")
	}
	d := &Dataverse{opts: opts}
	srv := httptest.NewServer(d)
	t.Cleanup(func() {
		d.Release()
		srv.Close()
	})
	d.URL = srv.URL
	ks := oidc.NewRemoteKeySet(context.Background(), opts.OP.Issuer+"/keys")
	// Dataverse accepts tokens whose audience is the environment's URL.
	d.verifier = oidc.NewVerifier(opts.OP.Issuer, ks, &oidc.Config{ClientID: d.URL})
	return d
}

// Add puts a record in a table (contact or account) and returns its new
// GUID.
func (d *Dataverse) Add(table string, fields map[string]string, inactive bool) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := uuid.NewString()
	d.records = append(d.records, DataverseRecord{Table: table, ID: id, Fields: fields, Inactive: inactive})
	return id
}

// Lookups counts the GET requests on a table that passed authentication.
func (d *Dataverse) Lookups() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lookups
}

// Unauthorized counts requests refused with 401.
func (d *Dataverse) Unauthorized() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.badAuth
}

// Created lists the records made by POST, as sent.
func (d *Dataverse) Created() []map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]map[string]string(nil), d.created...)
}

// SetDown makes every request answer 503 (down) or not.
func (d *Dataverse) SetDown(down bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = down
}

// Throttle answers the next n requests with 429 and Retry-After seconds.
func (d *Dataverse) Throttle(n, retryAfter int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.throttle, d.retry = n, retryAfter
}

// Hold makes requests wait until Release (or until their client gives up).
func (d *Dataverse) Hold() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.hold == nil {
		d.hold = make(chan struct{})
	}
}

// Release lets held requests go on.
func (d *Dataverse) Release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.hold != nil {
		close(d.hold)
		d.hold = nil
	}
}

const dataverseAPI = "/api/data/v9.2/"

// tables maps entity sets to their table and id column.
var dataverseTables = map[string][2]string{
	"contacts": {"contact", "contactid"},
	"accounts": {"account", "accountid"},
}

// Requests counts every request that reached the stand-in.
func (d *Dataverse) Requests() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.requests
}

func (d *Dataverse) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	d.requests++
	hold, down := d.hold, d.down
	d.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if down {
		dataverseError(w, http.StatusServiceUnavailable, "0x80040216", "The service is temporarily unavailable.")
		return
	}
	if !d.authorized(r) {
		d.mu.Lock()
		d.badAuth++
		d.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri=`+d.opts.OP.Issuer+`/authorize`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	d.mu.Lock()
	if d.throttle > 0 {
		d.throttle--
		retry := d.retry
		d.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		dataverseError(w, http.StatusTooManyRequests, "0x80072322", "Number of requests exceeded the limit of 6000 over time window of 300 seconds.")
		return
	}
	d.mu.Unlock()
	set, ok := strings.CutPrefix(r.URL.Path, dataverseAPI)
	tbl, known := dataverseTables[set]
	if !ok || !known {
		dataverseError(w, http.StatusNotFound, "0x80060888", fmt.Sprintf("Resource not found for the segment '%s'.", set))
		return
	}
	switch r.Method {
	case http.MethodGet:
		d.find(w, r, tbl[0], tbl[1])
	case http.MethodPost:
		d.create(w, r, tbl[0], tbl[1])
	default:
		dataverseError(w, http.StatusMethodNotAllowed, "0x80060888", "The HTTP verb is not allowed here.")
	}
}

// authorized checks the bearer token: signed by the OP, for this
// environment, not expired, and the app registration's.
func (d *Dataverse) authorized(r *http.Request) bool {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	tok, err := d.verifier.Verify(r.Context(), raw)
	if err != nil {
		return false
	}
	var c struct {
		ClientID string `json:"client_id"`
	}
	return tok.Claims(&c) == nil && c.ClientID == d.opts.OP.AppClientID
}

func (d *Dataverse) find(w http.ResponseWriter, r *http.Request, table, idColumn string) {
	q := r.URL.Query()
	if sel := q.Get("$select"); sel != idColumn {
		dataverseError(w, http.StatusBadRequest, "0x80060888", fmt.Sprintf("the stand-in answers $select=%s only, not %q", idColumn, sel))
		return
	}
	conds, err := ParseODataFilter(q.Get("$filter"))
	if err != nil {
		dataverseError(w, http.StatusBadRequest, "0x80060888", err.Error())
		return
	}
	top := -1
	if s := q.Get("$top"); s != "" {
		if top, err = strconv.Atoi(s); err != nil || top < 0 {
			dataverseError(w, http.StatusBadRequest, "0x80060888", "Invalid value for $top.")
			return
		}
	}
	d.mu.Lock()
	d.lookups++
	var value []map[string]any
	for _, rec := range d.records {
		if rec.Table != table || (top >= 0 && len(value) >= top) {
			continue
		}
		match := true
		for _, c := range conds {
			if !c.matches(rec) {
				match = false
			}
		}
		if match {
			value = append(value, map[string]any{"@odata.etag": `W/"1"`, idColumn: rec.ID})
		}
	}
	d.mu.Unlock()
	for _, c := range conds {
		if c.Column != "statecode" && !knownColumn(c.Column) {
			dataverseError(w, http.StatusBadRequest, "0x80060888", fmt.Sprintf("Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'.", c.Column, table))
			return
		}
	}
	if value == nil {
		value = []map[string]any{}
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{
		"@odata.context": d.URL + dataverseAPI + "$metadata#" + table + "s(" + idColumn + ")",
		"value":          value,
	})
}

// knownColumn: the stand-in's tables have the columns tests use; any
// lower-case logical name is taken as one.
func knownColumn(c string) bool {
	return c != "" && strings.ToLower(c) == c
}

func (d *Dataverse) create(w http.ResponseWriter, r *http.Request, table, idColumn string) {
	if d.opts.DenyCreate {
		dataverseError(w, http.StatusForbidden, "0x80040220", "Principal user is missing prvCreateContact privilege.")
		return
	}
	var fields map[string]string
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&fields); err != nil {
		dataverseError(w, http.StatusBadRequest, "0x80048d19", "Error identified in Payload provided by the user.")
		return
	}
	id := d.Add(table, fields, false)
	d.mu.Lock()
	d.created = append(d.created, fields)
	d.mu.Unlock()
	entity := d.URL + dataverseAPI + table + "s(" + id + ")"
	if !strings.Contains(r.Header.Get("Prefer"), "return=representation") {
		w.Header().Set("OData-EntityId", entity)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	rep := map[string]any{"@odata.context": d.URL + dataverseAPI + "$metadata#" + table + "s/$entity", "@odata.etag": `W/"1"`, idColumn: id}
	for k, v := range fields {
		rep[k] = v
	}
	writeJSONStatus(w, http.StatusCreated, rep)
}

func dataverseError(w http.ResponseWriter, status int, code, msg string) {
	writeJSONStatus(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

// ODataCondition is one "column eq literal" of a $filter.
type ODataCondition struct {
	Column string
	// Value is the literal: a string (quotes undone) or, unquoted, a
	// number or null.
	Value  string
	Quoted bool
}

func (c ODataCondition) matches(rec DataverseRecord) bool {
	if c.Column == "statecode" {
		state := "0"
		if rec.Inactive {
			state = "1"
		}
		return !c.Quoted && c.Value == state
	}
	// Dataverse compares text without regard to case.
	return c.Quoted && strings.EqualFold(rec.Fields[c.Column], c.Value)
}

// ParseODataFilter parses the subset of OData $filter a lookup uses:
// comparisons "column eq literal" joined by " and ", where a literal is a
// string in single quotes (a quote inside doubled: ”), an integer or
// null. Anything else — a stray quote, an unknown operator, text after
// the last comparison — is a syntax error, as at Dataverse.
func ParseODataFilter(s string) ([]ODataCondition, error) {
	p := &odataParser{s: s}
	var out []ODataCondition
	for {
		c, err := p.comparison()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		if p.pos == len(s) {
			return out, nil
		}
		if !p.keyword(" and ") {
			return nil, p.fail("expected ' and ' or the end")
		}
	}
}

type odataParser struct {
	s   string
	pos int
}

func (p *odataParser) fail(what string) error {
	return fmt.Errorf("Syntax error at position %d in '%s': %s.", p.pos, p.s, what)
}

func (p *odataParser) keyword(k string) bool {
	if strings.HasPrefix(p.s[p.pos:], k) {
		p.pos += len(k)
		return true
	}
	return false
}

func (p *odataParser) comparison() (ODataCondition, error) {
	start := p.pos
	for p.pos < len(p.s) && (p.s[p.pos] == '_' || p.s[p.pos] >= 'a' && p.s[p.pos] <= 'z' || p.s[p.pos] >= 'A' && p.s[p.pos] <= 'Z' || p.pos > start && p.s[p.pos] >= '0' && p.s[p.pos] <= '9') {
		p.pos++
	}
	c := ODataCondition{Column: p.s[start:p.pos]}
	if c.Column == "" {
		return c, p.fail("expected a property name")
	}
	if !p.keyword(" eq ") {
		return c, p.fail("expected ' eq '")
	}
	if p.pos < len(p.s) && p.s[p.pos] == '\'' {
		p.pos++
		var b strings.Builder
		for {
			i := strings.IndexByte(p.s[p.pos:], '\'')
			if i < 0 {
				return c, p.fail("unterminated string literal")
			}
			b.WriteString(p.s[p.pos : p.pos+i])
			p.pos += i + 1
			if p.pos < len(p.s) && p.s[p.pos] == '\'' { // '' is one quote
				b.WriteByte('\'')
				p.pos++
				continue
			}
			break
		}
		c.Value, c.Quoted = b.String(), true
		return c, nil
	}
	start = p.pos
	for p.pos < len(p.s) && (p.s[p.pos] >= '0' && p.s[p.pos] <= '9' || p.pos == start && p.s[p.pos] == '-') {
		p.pos++
	}
	c.Value = p.s[start:p.pos]
	if c.Value == "" || c.Value == "-" {
		if p.keyword("null") {
			c.Value = "null"
			return c, nil
		}
		return c, p.fail("expected a literal")
	}
	return c, nil
}

// AppCertificate makes a self-signed certificate with an RSA 2048 key, as
// uploaded to an app registration for certificate credentials, and writes
// both as PEM files (token.contact.client_certificate_file and
// client_key_file); cert goes to OPOptions.AppCertificate.
func AppCertificate(t testing.TB) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "lcw-auth-proxy dataverse app"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "app.crt"), filepath.Join(dir, "app.key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	return certFile, keyFile, cert
}
