package testenv

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// acsAPIVersion is the chat REST API version of @azure/communication-chat
// 1.5.4, the version the pinned chat SDK uses; the stand-in answers only it.
const acsAPIVersion = "2024-03-07"

// acsConfigAPIVersion is the api-version of the real-time configuration
// request (@azure/communication-signaling 1.0.0-beta.29).
const acsConfigAPIVersion = "2024-09-01"

// Identities of the chat, as ACS raw ids: the visitor the chat token is
// for, and the agent the stand-in posts as.
const (
	acsVisitor = "8:acs:lcw-stand-in_visitor"
	acsAgent   = "8:acs:lcw-stand-in_agent"
)

// ACSChat stands in for the Azure Communication Services chat endpoint that
// Omnichannel's chat token names (ACSEndpoint): the chat REST API of the
// documented api-version for one thread per chat — its properties,
// participants, messages (list and send), typing notifications and read
// receipts — with the bearer token Omnichannel issued. It records what the
// visitor sends and can post an agent's message, which the visitor's client
// finds when it lists the thread's messages.
type ACSChat struct {
	URL string

	pageOrigin string
	cert       *x509.Certificate
	mu         sync.Mutex
	threads    map[string]*acsThread
	log        ACSLog
}

// ACSLog is what the ACS stand-in saw.
type ACSLog struct {
	// Sent holds the visitor's messages, in order.
	Sent []string
	// Typing and ReadReceipts count those notifications; Realtime the
	// client's attempts to reach the real-time channel.
	Typing, ReadReceipts, Realtime int
	// Unknown lists requests the stand-in has no answer for
	// ("METHOD path"), so a test can name what the client needed.
	Unknown []string
	// Requests counts every request, preflights included; Unauthorized
	// those refused for not carrying the thread's chat token.
	Requests, Unauthorized int
}

type acsThread struct {
	token    string
	created  time.Time
	messages []acsMessage
}

type acsMessage struct {
	ID         string
	Type       string
	Text       string
	Sender     string
	SenderName string
	Created    time.Time
}

// startACSChat starts the ACS stand-in; it stops when the test ends.
func startACSChat(t testing.TB, pageOrigin string) *ACSChat {
	t.Helper()
	a := &ACSChat{pageOrigin: pageOrigin, threads: map[string]*acsThread{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /chat/threads/{thread}", a.thread(a.properties))
	mux.HandleFunc("GET /chat/threads/{thread}/participants", a.thread(a.participants))
	mux.HandleFunc("GET /chat/threads/{thread}/messages", a.thread(a.listMessages))
	mux.HandleFunc("POST /chat/threads/{thread}/messages", a.thread(a.sendMessage))
	mux.HandleFunc("POST /chat/threads/{thread}/typing", a.thread(func(w http.ResponseWriter, r *http.Request, _ *acsThread) {
		a.count(&a.log.Typing)
		w.WriteHeader(http.StatusOK)
	}))
	mux.HandleFunc("POST /chat/threads/{thread}/readReceipts", a.thread(func(w http.ResponseWriter, r *http.Request, _ *acsThread) {
		a.count(&a.log.ReadReceipts)
		w.WriteHeader(http.StatusOK)
	}))
	mux.HandleFunc("GET /chat/threads/{thread}/readReceipts", a.thread(func(w http.ResponseWriter, r *http.Request, _ *acsThread) {
		writeJSON(w, map[string]any{"value": []any{}})
	}))
	// Before it joins, the chat client asks the gateway where its
	// real-time channel is (@azure/communication-signaling's
	// TrouterConfigClient; its own api-version). The stand-in names
	// itself: it has no trouter, so the client's connection attempts fail
	// here, on loopback, and the chat goes on with REST calls alone.
	mux.HandleFunc("GET /chat/config/realTimeNotifications", func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("api-version"); v != acsConfigAPIVersion {
			acsError(w, http.StatusBadRequest, "UnsupportedApiVersion", "api-version "+v+" is not "+acsConfigAPIVersion)
			return
		}
		writeJSON(w, map[string]any{
			"trouterServiceUrl": a.URL + "/trouter", "registrarServiceUrl": a.URL + "/registrar", "cloudType": "Public",
		})
	})
	notThere := func(w http.ResponseWriter, r *http.Request) {
		a.count(&a.log.Realtime)
		acsError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "no real-time channel in the stand-in")
	}
	mux.HandleFunc("/trouter/", notThere)
	mux.HandleFunc("/registrar/", notThere)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.log.Unknown = append(a.log.Unknown, r.Method+" "+r.URL.Path)
		a.mu.Unlock()
		acsError(w, http.StatusNotFound, "NotFound", "no such resource in the ACS stand-in")
	})
	// ACS is HTTPS only: the Azure SDK's pipeline refuses http:// (its
	// allowInsecureConnection is off), so the stand-in serves TLS and the
	// browser must trust Certificate.
	srv := httptest.NewUnstartedServer(a.counted(pageCORS(a.pageOrigin, "GET, POST, PATCH, DELETE", "ms-cv, x-ms-client-request-id, retry-after", mux)))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	a.cert = srv.Certificate()
	return a
}

// Certificate is the stand-in's TLS certificate (see TrustCertificates).
func (a *ACSChat) Certificate() *x509.Certificate { return a.cert }

// newThread creates the thread of a new chat, open to the bearer of token.
func (a *ACSChat) newThread(id, token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.threads[id] = &acsThread{created: time.Now().UTC(), token: token}
}

// Log returns a copy of what the stand-in saw so far.
func (a *ACSChat) Log() ACSLog {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.log
	l.Sent = append([]string(nil), l.Sent...)
	l.Unknown = append([]string(nil), l.Unknown...)
	return l
}

// PostAgentMessage adds an agent's text message to every thread, as an
// agent answering in Omnichannel would.
func (a *ACSChat) PostAgentMessage(text string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, th := range a.threads {
		th.add("text", text, acsAgent, "Agent")
	}
}

func (th *acsThread) add(typ, text, sender, name string) acsMessage {
	// ACS message ids are epoch milliseconds; keep them increasing.
	id := time.Now().UnixMilli()
	if n := len(th.messages); n > 0 {
		last, _ := strconv.ParseInt(th.messages[n-1].ID, 10, 64)
		id = max(id, last+1)
	}
	m := acsMessage{ID: strconv.FormatInt(id, 10), Type: typ, Text: text, Sender: sender, SenderName: name, Created: time.Now().UTC()}
	th.messages = append(th.messages, m)
	return m
}

func (a *ACSChat) count(n *int) {
	a.mu.Lock()
	*n++
	a.mu.Unlock()
}

// counted counts every request ACS gets, preflights included.
func (a *ACSChat) counted(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.count(&a.log.Requests)
		next.ServeHTTP(w, r)
	})
}

// thread checks the api-version, finds the thread and checks that the
// bearer token is the chat token issued for it, then calls h; ACS answers
// 401 to a wrong token and 404 for a thread it does not know.
func (a *ACSChat) thread(h func(http.ResponseWriter, *http.Request, *acsThread)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("api-version"); v != acsAPIVersion {
			acsError(w, http.StatusBadRequest, "UnsupportedApiVersion", "api-version "+v+" is not "+acsAPIVersion)
			return
		}
		a.mu.Lock()
		th := a.threads[r.PathValue("thread")]
		a.mu.Unlock()
		if th == nil {
			acsError(w, http.StatusNotFound, "NotFound", "no such thread")
			return
		}
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || tok != th.token {
			a.mu.Lock()
			a.log.Unauthorized++
			a.mu.Unlock()
			acsError(w, http.StatusUnauthorized, "Unauthorized", "not the chat token of this thread")
			return
		}
		h(w, r, th)
	}
}

func (a *ACSChat) properties(w http.ResponseWriter, r *http.Request, th *acsThread) {
	writeJSON(w, map[string]any{
		"id":                               r.PathValue("thread"),
		"topic":                            "lcw-auth-proxy stand-in chat",
		"createdOn":                        th.created.Format(time.RFC3339),
		"createdByCommunicationIdentifier": acsIdentifier(acsAgent),
	})
}

func (a *ACSChat) participants(w http.ResponseWriter, r *http.Request, th *acsThread) {
	writeJSON(w, map[string]any{"value": []any{
		map[string]any{"communicationIdentifier": acsIdentifier(acsVisitor), "displayName": "Customer", "shareHistoryTime": th.created.Format(time.RFC3339)},
		map[string]any{"communicationIdentifier": acsIdentifier(acsAgent), "displayName": "Agent", "shareHistoryTime": th.created.Format(time.RFC3339)},
	}})
}

// listMessages answers with the thread's messages, newest first, as ACS
// does; startTime limits them to those created at or after it.
func (a *ACSChat) listMessages(w http.ResponseWriter, r *http.Request, th *acsThread) {
	var since time.Time
	if s := r.URL.Query().Get("startTime"); s != "" {
		since, _ = time.Parse(time.RFC3339Nano, s)
	}
	a.mu.Lock()
	value := []any{}
	for i := len(th.messages) - 1; i >= 0; i-- {
		m := th.messages[i]
		if m.Created.Before(since) {
			continue
		}
		value = append(value, map[string]any{
			"id": m.ID, "type": m.Type, "sequenceId": strconv.Itoa(i + 1), "version": m.ID,
			"content":                       map[string]any{"message": m.Text},
			"senderDisplayName":             m.SenderName,
			"createdOn":                     m.Created.Format(time.RFC3339Nano),
			"senderCommunicationIdentifier": acsIdentifier(m.Sender),
			"metadata":                      map[string]any{},
		})
	}
	a.mu.Unlock()
	writeJSON(w, map[string]any{"value": value})
}

// sendMessage records the visitor's message and answers 201 with its id.
func (a *ACSChat) sendMessage(w http.ResponseWriter, r *http.Request, th *acsThread) {
	var req struct {
		Content           string `json:"content"`
		SenderDisplayName string `json:"senderDisplayName"`
		Type              string `json:"type"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		acsError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if req.Type == "" {
		req.Type = "text"
	}
	a.mu.Lock()
	m := th.add(req.Type, req.Content, acsVisitor, req.SenderDisplayName)
	a.log.Sent = append(a.log.Sent, req.Content)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"id": m.ID})
}

func acsIdentifier(raw string) map[string]any {
	return map[string]any{"rawId": raw, "communicationUser": map[string]any{"id": raw}}
}

// acsError writes ACS's error body: {"error": {"code", "message"}}.
func acsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

// acsToken is a chat token in the shape of an ACS user access token: a JWT
// whose payload the client decodes for exp (CommunicationTokenCredential).
// The stand-in does not sign it; it checks that a thread's calls carry the
// token issued with it.
func acsToken(ttl time.Duration) string {
	enc := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(map[string]any{
		"skypeid": strings.TrimPrefix(acsVisitor, "8:"), "scp": 1792, "acsScope": "chat",
		"resourceId": "00000000-0000-0000-0000-0000000000c3", "resourceLocation": "unitedstates",
		"exp": time.Now().Add(ttl).Unix(), "iat": time.Now().Unix(),
	})
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc(payload) + "." + enc([]byte(fmt.Sprint("stand-in")))
}
