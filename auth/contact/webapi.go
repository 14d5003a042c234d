package contact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
)

// apiPath is the Web API's root under the environment URL.
const apiPath = "/api/data/v9.2/"

// maxAnswer bounds what is read of a Web API answer: a lookup asks for at
// most two ids.
const maxAnswer = 1 << 20

// APIError is an error answer of the Web API: its status, the error JSON's
// code and message ({"error":{"code","message"}}) and, with 429, how long
// Dataverse asks to wait (Retry-After).
type APIError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	if e.Code == "" && e.Message == "" {
		return fmt.Sprintf("dataverse answered %d", e.Status)
	}
	return fmt.Sprintf("dataverse answered %d: %s %s", e.Status, e.Code, e.Message)
}

// webAPI calls one table of the Dataverse Web API with app tokens from
// tokens (an oauth2 source that caches the token until it expires).
type webAPI struct {
	org      string // https://org.crm.dynamics.com, no trailing slash
	set      string // entity set: contacts or accounts
	idColumn string // contactid or accountid
	tokens   oauth2.TokenSource
	http     *http.Client
}

// find returns the ids of the active records whose column equals value,
// at most two: two already means no link.
func (a *webAPI) find(ctx context.Context, column, value string) ([]string, error) {
	filter, err := Filter(column, value)
	if err != nil {
		return nil, err
	}
	recs, err := a.query(ctx, filter, 2)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(recs))
	for _, rec := range recs {
		id, _ := rec[a.idColumn].(string)
		if !claims.IsRecordID(id) {
			return nil, fmt.Errorf("contact: the answer's %s %q is not a GUID", a.idColumn, id)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// probe reads one active record's id: the token, the application user
// and its read privilege all work.
func (a *webAPI) probe(ctx context.Context) error {
	_, err := a.query(ctx, "statecode eq 0", 1)
	return err
}

// query returns at most top records of the table that match filter, with
// only their id column.
func (a *webAPI) query(ctx context.Context, filter string, top int) ([]map[string]any, error) {
	q := url.Values{"$select": {a.idColumn}, "$filter": {filter}, "$top": {strconv.Itoa(top)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.org+apiPath+a.set+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("contact: build request: %w", err)
	}
	var answer struct {
		Value []map[string]any `json:"value"`
	}
	if err := a.do(ctx, req, http.StatusOK, &answer); err != nil {
		return nil, err
	}
	return answer.Value, nil
}

// create makes a record of fields and returns its id, from the
// representation Dataverse returns (Prefer: return=representation).
func (a *webAPI) create(ctx context.Context, fields map[string]string) (string, error) {
	body, err := json.Marshal(fields)
	if err != nil {
		return "", fmt.Errorf("contact: encode record: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.org+apiPath+a.set+"?$select="+a.idColumn, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("contact: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Prefer", "return=representation")
	var rec map[string]any
	if err := a.do(ctx, req, http.StatusCreated, &rec); err != nil {
		return "", err
	}
	id, _ := rec[a.idColumn].(string)
	if !claims.IsRecordID(id) {
		return "", fmt.Errorf("contact: the created record's %s %q is not a GUID", a.idColumn, id)
	}
	return id, nil
}

// do sends req with an app token and the OData headers, and decodes an
// answer of status want into out; any other answer is an *APIError.
func (a *webAPI) do(ctx context.Context, req *http.Request, want int, out any) error {
	tok, err := a.token(ctx)
	if err != nil {
		return err
	}
	tok.SetAuthHeader(req)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-MaxVersion", "4.0")
	req.Header.Set("OData-Version", "4.0")
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("contact: %s %s: %w", req.Method, a.set, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("contact: read answer: %w", err)
	}
	if resp.StatusCode != want {
		e := &APIError{Status: resp.StatusCode}
		var body struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &body) == nil {
			e.Code, e.Message = body.Error.Code, body.Error.Message
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("contact: decode answer: %w", err)
	}
	return nil
}

// token gets the app token (cached by the source until it expires) but
// waits no longer than ctx allows: a slow token endpoint must not hold a
// sign-in past the lookup's timeout. The fetch itself ends with the token
// client's own timeout.
func (a *webAPI) token(ctx context.Context) (*oauth2.Token, error) {
	type result struct {
		tok *oauth2.Token
		err error
	}
	ch := make(chan result, 1)
	go func() {
		t, err := a.tokens.Token()
		ch <- result{t, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("contact: app token: %w", r.err)
		}
		return r.tok, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("contact: app token: %w", context.Cause(ctx))
	}
}

// errorClass sorts a failed call into a lookup result: throttled (429),
// unavailable (no answer, timeouts, 5xx, 408; the token endpoint's too) or
// error (an answer that refuses: 401, 403, 400 — a configuration problem
// trying again soon will not fix).
func errorClass(err error) (result string, retryAfter time.Duration) {
	var ae *APIError
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &ae):
		switch {
		case ae.Status == http.StatusTooManyRequests:
			return claims.ContactThrottled, ae.RetryAfter
		case ae.Status >= 500 || ae.Status == http.StatusRequestTimeout:
			return claims.ContactUnavailable, 0
		}
		return claims.ContactError, 0
	case errors.As(err, &re):
		if re.Response != nil && (re.Response.StatusCode >= 500 || re.Response.StatusCode == http.StatusTooManyRequests) {
			return claims.ContactUnavailable, 0
		}
		return claims.ContactError, 0
	case errors.Is(err, ErrBadValue):
		return claims.ContactNoClaim, 0
	}
	return claims.ContactUnavailable, 0
}
