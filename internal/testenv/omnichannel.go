package testenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// OmnichannelOptions configure StartOmnichannel.
type OmnichannelOptions struct {
	// KeyURL is the chat authentication setting's public key URL: the
	// proxy's {prefix}/public-keys or {prefix}/public-key.pem.
	KeyURL string
	// ClientFunction is the setting's JavaScript client function.
	ClientFunction string
	// PageOrigin is the origin of the pages that run the chat SDK; only it
	// passes CORS, as with Omnichannel.
	PageOrigin string
}

// Omnichannel stands in for the Omnichannel service that Microsoft's chat
// SDK talks to, on loopback: the live chat config (with an authentication
// setting) and the authenticated chat token request, whose
// AuthenticatedUserToken it verifies as Omnichannel's documentation says
// (the key document at KeyURL, fetched again when a token names a kid it has
// not seen). It verifies with code of its own on golang-jwt, not the proxy's
// auth/token: a stand-in that reused the proxy's verifier would accept what
// the proxy gets wrong. For the widget's UI it also creates conversations
// (each a thread on its ACS stand-in), checks a stored chat against the
// user it was issued for, and takes typing indicators and the post-chat
// query; what it has no answer for it records in Unknown.
type Omnichannel struct {
	URL string
	// OrgID and WidgetID are what the SDK must be configured with.
	OrgID, WidgetID string

	// ACS is the chat service the chat tokens name.
	ACS *ACSChat

	opts OmnichannelOptions
	mu   sync.Mutex
	keys []publishedKey
	log  OmnichannelLog
	// owners maps each chat id to the subject of the token it was
	// issued for.
	owners map[string]string
}

// OmnichannelLog is what the stand-in saw.
type OmnichannelLog struct {
	// ConfigRequests counts live chat config requests.
	ConfigRequests int
	// KeyFetches counts downloads of the key document.
	KeyFetches int
	// Accepted holds the tokens that passed verification, in order, with
	// the kid that verified each ("" for a PEM key); Rejected the reasons
	// for those that did not.
	Accepted []AcceptedToken
	Rejected []string
	// Conversations counts chats created (the SDK's createConversation);
	// SessionsClosed the chats the visitor ended.
	Conversations, SessionsClosed int
	// Typing counts the visitor's typing indicators.
	Typing int
	// Unknown lists requests the stand-in has no answer for
	// ("METHOD path"), so a test can name what the client needed.
	Unknown []string
}

// AcceptedToken is one token the stand-in accepted.
type AcceptedToken struct {
	Token, Kid, Subject string
}

// StartOmnichannel starts the stand-in; it stops when the test ends.
func StartOmnichannel(t testing.TB, o OmnichannelOptions) *Omnichannel {
	t.Helper()
	oc := &Omnichannel{OrgID: "00000000-0000-0000-0000-0000000000a1", WidgetID: "00000000-0000-0000-0000-0000000000b2", opts: o, owners: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livechatconnector/config/{org}/{widget}", oc.config)
	mux.HandleFunc("GET /livechatconnector/v2/auth/getchattoken/{org}/{widget}/{request}", oc.chatToken)
	// The SDK's startChat creates the conversation in one call that
	// answers with a chat token (ocsdk createConversation).
	mux.HandleFunc("POST /livechatconnector/auth/organization/{org}/widgetApp/{widget}/conversation", oc.chatToken)
	mux.HandleFunc("POST /livechatconnector/auth/sessionclose/{org}/{widget}/{request}", func(w http.ResponseWriter, r *http.Request) {
		oc.mu.Lock()
		oc.log.SessionsClosed++
		oc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	// The widget asks for the conversation's state (ocsdk
	// getLWIDetails) to decide on the post-chat survey: an agent has the
	// chat, and there is no survey.
	mux.HandleFunc("GET /livechatconnector/auth/getliveworkitemdetails/{org}/{widget}/{request}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"State": "Active", "ConversationId": "00000000-0000-0000-0000-0000000000d4", "CanRenderPostChat": "False", "ParticipantType": "User"})
	})
	// The widget tells the agent the visitor is typing through
	// Omnichannel, not ACS (ocsdk sendTypingIndicator).
	mux.HandleFunc("POST /inbound/typingindicator/livechat/sendtypingindicator/{request}", func(w http.ResponseWriter, r *http.Request) {
		oc.mu.Lock()
		oc.log.Typing++
		oc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	// A widget that finds a chat of an earlier page in its storage asks
	// whether that chat belongs to the signed-in user before it rejoins.
	mux.HandleFunc("GET /livechatconnector/auth/validateauthchatmaprecord/{org}/{widget}/{chat}/{request}", oc.validateChat)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		oc.mu.Lock()
		oc.log.Unknown = append(oc.log.Unknown, r.Method+" "+r.URL.Path)
		oc.mu.Unlock()
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(pageCORS(oc.opts.PageOrigin, "GET, POST", "message, errorcode, date", mux))
	t.Cleanup(srv.Close)
	oc.URL = srv.URL
	oc.ACS = startACSChat(t, o.PageOrigin)
	return oc
}

// Log returns a copy of what the stand-in saw so far.
func (oc *Omnichannel) Log() OmnichannelLog {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	l := oc.log
	l.Accepted = append([]AcceptedToken(nil), l.Accepted...)
	l.Rejected = append([]string(nil), l.Rejected...)
	l.Unknown = append([]string(nil), l.Unknown...)
	return l
}

// pageCORS lets only pages of origin call next, as the Microsoft services
// the stand-ins play do, and answers the browser's preflights: the chat
// code sends headers of its own (Authorization, AuthenticatedUserToken), so
// every call is preflighted. expose lists the response headers the page
// may read.
func pageCORS(origin, methods, expose string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != origin {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", expose)
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", methods)
			h.Set("Access-Control-Allow-Headers", r.Header.Get("Access-Control-Request-Headers"))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (oc *Omnichannel) known(org, widget string) bool {
	return org == oc.OrgID && widget == oc.WidgetID
}

// config is the live chat configuration of an authenticated widget.
func (oc *Omnichannel) config(w http.ResponseWriter, r *http.Request) {
	if !oc.known(r.PathValue("org"), r.PathValue("widget")) {
		http.Error(w, "widget not found", http.StatusNotFound)
		return
	}
	oc.mu.Lock()
	oc.log.ConfigRequests++
	oc.mu.Unlock()
	writeJSON(w, map[string]any{
		"LiveChatConfigAuthSettings": map[string]any{
			"msdyn_name":                     "lcw-auth-proxy interop",
			"msdyn_javascriptclientfunction": oc.opts.ClientFunction,
		},
		"LiveWSAndLiveChatEngJoin": map[string]any{
			"msdyn_conversationmode":                  "192350000", // live chat, not persistent
			"msdyn_enablechatreconnect":               "false",
			"msdyn_prechatenabled":                    "false",
			"msdyn_enablefileattachmentsforcustomers": "false",
			"msdyn_enablefileattachmentsforagents":    "false",
			"msdyn_requestvisitorlocation":            "false",
		},
		"LiveChatVersion":    2,
		"ChatWidgetLanguage": map[string]any{"msdyn_localeid": "1033"},
		"DataMaskingInfo":    map[string]any{"setting": map[string]any{"msdyn_maskforcustomer": false}},
	})
}

// chatToken verifies the user's token and answers with a chat token for a
// new thread on the ACS stand-in (a conversation request answers the same
// way); a token it refuses gets what Omnichannel answers then: 401 with
// "message: UserId not found", whatever the reason.
func (oc *Omnichannel) chatToken(w http.ResponseWriter, r *http.Request) {
	if !oc.known(r.PathValue("org"), r.PathValue("widget")) {
		http.Error(w, "widget not found", http.StatusNotFound)
		return
	}
	tok := r.Header.Get("AuthenticatedUserToken")
	rep, err := oc.verify(tok)
	oc.mu.Lock()
	if err != nil {
		oc.log.Rejected = append(oc.log.Rejected, err.Error())
	} else {
		oc.log.Accepted = append(oc.log.Accepted, AcceptedToken{Token: tok, Kid: rep.Kid, Subject: rep.Subject})
	}
	n := len(oc.log.Accepted)
	if err == nil && r.Method == http.MethodPost {
		oc.log.Conversations++
	}
	oc.mu.Unlock()
	if err != nil {
		w.Header().Set("message", "UserId not found")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	chatID := fmt.Sprintf("19:chat-%d@thread.v2", n)
	oc.mu.Lock()
	oc.owners[chatID] = rep.Subject
	oc.mu.Unlock()
	chatToken := acsToken(24 * time.Hour)
	oc.ACS.newThread(chatID, chatToken)
	writeJSON(w, map[string]any{
		"ChatId":      chatID,
		"Token":       chatToken,
		"RegionGtms":  `{"chat":"` + oc.URL + `"}`,
		"ExpiresIn":   "86400",
		"VisitorId":   acsVisitor,
		"ACSEndpoint": oc.ACS.URL,
	})
}

// validateChat answers whether the chat belongs to the user of the
// AuthenticatedUserToken: {"authChatExist": true} only then, as the SDK
// (ocsdk validateAuthChatRecord) expects.
func (oc *Omnichannel) validateChat(w http.ResponseWriter, r *http.Request) {
	if !oc.known(r.PathValue("org"), r.PathValue("widget")) {
		http.Error(w, "widget not found", http.StatusNotFound)
		return
	}
	rep, err := oc.verify(r.Header.Get("AuthenticatedUserToken"))
	if err != nil {
		oc.mu.Lock()
		oc.log.Rejected = append(oc.log.Rejected, err.Error())
		oc.mu.Unlock()
		w.Header().Set("message", "UserId not found")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	oc.mu.Lock()
	owner, ok := oc.owners[r.PathValue("chat")]
	oc.mu.Unlock()
	writeJSON(w, map[string]any{"authChatExist": ok && owner == rep.Subject})
}

// verify checks tok with the published keys, and downloads them again
// once when the token's kid is not among those it holds (a rotation).
func (oc *Omnichannel) verify(tok string) (*verified, error) {
	if tok == "" {
		return nil, fmt.Errorf("no AuthenticatedUserToken header")
	}
	if oc.currentKeys() == nil {
		if err := oc.fetchKeys(); err != nil {
			return nil, err
		}
	}
	v, err := verifyUserToken(tok, oc.currentKeys())
	if errors.Is(err, errUnknownKid) {
		if ferr := oc.fetchKeys(); ferr != nil {
			return nil, ferr
		}
		v, err = verifyUserToken(tok, oc.currentKeys())
	}
	return v, err
}

func (oc *Omnichannel) currentKeys() []publishedKey {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	return oc.keys
}

// fetchKeys downloads the key document without credentials, as
// Omnichannel's servers do.
func (oc *Omnichannel) fetchKeys() error {
	resp, err := http.Get(oc.opts.KeyURL)
	if err != nil {
		return fmt.Errorf("fetch public key URL: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch public key URL: %s %v", resp.Status, err)
	}
	pub, err := parseKeyDocument(body)
	if err != nil {
		return fmt.Errorf("public key URL: %w", err)
	}
	oc.mu.Lock()
	oc.keys = pub
	oc.log.KeyFetches++
	oc.mu.Unlock()
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Kids lists the kids of the accepted tokens, for messages.
func (l OmnichannelLog) Kids() string {
	var s []string
	for _, a := range l.Accepted {
		s = append(s, a.Kid)
	}
	return strings.Join(s, ",")
}
