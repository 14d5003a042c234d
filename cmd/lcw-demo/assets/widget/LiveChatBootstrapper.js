/*
 * SIMULATED Omnichannel live chat widget — part of the lcw-auth-proxy demo.
 *
 * A stand-in for Microsoft's LiveChatBootstrapper.js that talks to nothing
 * outside this machine. It does, in the browser, what the real widget and
 * Omnichannel's servers do with an authenticated chat:
 *   - defines Microsoft.Omnichannel.LiveChatWidget.SDK.setAuthTokenProvider
 *     and raises the lcw:ready window event;
 *   - when a chat starts, calls the registered token provider (or the global
 *     client function named in data-demo-client-function), with the real
 *     widget's 10-second limit and lcw:error codes 2, 3, 4 and 8;
 *   - verifies the token's RS256 signature against the public key URL
 *     (data-demo-public-key-url) with WebCrypto, as Omnichannel would, and
 *     shows the header, the payload and the lwicontexts an agent would see.
 * The page's Content-Security-Policy applies to it like to the real widget:
 * it uses no inline styles (a constructed style sheet instead) and fetches
 * only the same-origin public key.
 */
(function () {
  'use strict';

  var script = document.currentScript || document.getElementById('Microsoft_Omnichannel_LCWidget');
  function attr(name) { return (script && script.getAttribute(name)) || ''; }
  var cfg = {
    appId: attr('data-app-id'),
    orgId: attr('data-org-id'),
    orgUrl: attr('data-org-url'),
    publicKeyUrl: attr('data-demo-public-key-url'),
    loginUrl: attr('data-demo-login-url'),
    clientFunction: attr('data-demo-client-function')
  };
  var PROVIDER_TIMEOUT_MS = 10000; // the real widget's limit

  var provider = null;
  var ui = null;

  var SDK = {
    setAuthTokenProvider: function (fn) {
      if (typeof fn !== 'function') {
        throw new TypeError('setAuthTokenProvider: authTokenProvider must be a function');
      }
      provider = fn;
      if (ui) { ui.providerNote.textContent = 'token provider registered with setAuthTokenProvider'; }
    },
    startChat: function () { startChat(); },
    closeChat: function () { if (ui) { ui.panel.hidden = true; } }
  };
  window.Microsoft = window.Microsoft || {};
  window.Microsoft.Omnichannel = window.Microsoft.Omnichannel || {};
  window.Microsoft.Omnichannel.LiveChatWidget = window.Microsoft.Omnichannel.LiveChatWidget || {};
  window.Microsoft.Omnichannel.LiveChatWidget.SDK = SDK;

  var CSS = [
    '.lcwdemo-button{position:fixed;right:24px;bottom:24px;z-index:2147483000;display:flex;align-items:center;gap:8px;',
    'padding:12px 18px;border:0;border-radius:999px;background:#0f6cbd;color:#fff;font:600 15px/1.2 system-ui,-apple-system,"Segoe UI",sans-serif;',
    'box-shadow:0 6px 18px rgba(0,0,0,.25);cursor:pointer}',
    '.lcwdemo-button:hover{background:#115ea3}',
    '.lcwdemo-button small{font-weight:400;opacity:.85}',
    '.lcwdemo-panel{position:fixed;right:24px;bottom:84px;z-index:2147483000;width:460px;max-width:calc(100vw - 48px);max-height:calc(100vh - 170px);',
    'overflow:auto;background:#fff;color:#1f2933;border:1px solid #d0d7de;border-radius:12px;box-shadow:0 12px 32px rgba(0,0,0,.28);',
    'font:13px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;text-align:left}',
    '.lcwdemo-panel[hidden]{display:none}',
    '.lcwdemo-head{background:#0f6cbd;color:#fff;padding:10px 14px;border-radius:12px 12px 0 0;display:flex;justify-content:space-between;align-items:center}',
    '.lcwdemo-head b{font-size:14px}',
    '.lcwdemo-tag{background:#fde68a;color:#713f12;border-radius:4px;padding:1px 6px;font-size:11px;font-weight:700;letter-spacing:.04em}',
    '.lcwdemo-body{padding:12px 14px}',
    '.lcwdemo-note{color:#52606d;font-size:12px;margin:0 0 8px}',
    '.lcwdemo-status{padding:8px 10px;border-radius:6px;margin:0 0 10px;font-weight:600}',
    '.lcwdemo-ok{background:#dcfce7;color:#166534;border:1px solid #86efac}',
    '.lcwdemo-bad{background:#fee2e2;color:#991b1b;border:1px solid #fca5a5}',
    '.lcwdemo-wait{background:#f1f5f9;color:#334155;border:1px solid #cbd5e1}',
    '.lcwdemo-panel h3{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#52606d;margin:12px 0 4px}',
    // Fixed column widths: a long value wraps inside its own column, at a
    // space, "/" or "-" when it has one, and only a token with none (a JWT)
    // breaks anywhere; a column never shrinks so far that words break.
    '.lcwdemo-panel table{border-collapse:collapse;width:100%;font-size:12.5px;table-layout:fixed}',
    '#lcw-demo-contexts th:first-child{width:34%}#lcw-demo-contexts th:last-child{width:6em}#lcw-demo-claims th{width:3.5em}',
    '.lcwdemo-panel th,.lcwdemo-panel td{border-bottom:1px solid #e5e7eb;padding:4px 6px;text-align:left;vertical-align:top}',
    '.lcwdemo-panel th{color:#52606d;font-weight:600}',
    '.lcwdemo-panel td,.lcwdemo-panel pre,.lcwdemo-panel code{overflow-wrap:anywhere}',
    '.lcwdemo-panel td.v,.lcwdemo-panel pre,.lcwdemo-panel code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}',
    '.lcwdemo-panel td.t{color:#7b8794}',
    '.lcwdemo-panel pre{background:#f6f8fa;border:1px solid #e5e7eb;border-radius:6px;padding:6px 8px;margin:0;white-space:pre-wrap;font-size:11.5px}',
    '.lcwdemo-panel a{color:#0f6cbd}',
    '.lcwdemo-actions{display:flex;gap:8px;margin-top:12px}',
    '.lcwdemo-actions button{font:inherit;border:1px solid #0f6cbd;background:#fff;color:#0f6cbd;border-radius:6px;padding:4px 10px;cursor:pointer}',
    '.lcwdemo-x{background:none;border:0;color:#fff;font-size:18px;cursor:pointer;line-height:1}',
    // On a phone: the button is a round icon in the corner (its label stays
    // its accessible name), so it covers little of the page; the panel
    // takes the screen's width, and each context variable puts its value
    // on a line of its own, as wide as the panel.
    '@media (max-width:600px){',
    '.lcwdemo-button{right:16px;bottom:16px;padding:14px}',
    '.lcwdemo-button span,.lcwdemo-button small{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}',
    '.lcwdemo-panel{left:8px;right:8px;bottom:76px;width:auto;max-width:none;max-height:calc(100vh - 92px)}',
    '#lcw-demo-contexts,#lcw-demo-contexts tbody{display:block}#lcw-demo-contexts thead{display:none}',
    '#lcw-demo-contexts tr{display:grid;grid-template-columns:1fr auto;border-bottom:1px solid #e5e7eb}',
    '#lcw-demo-contexts td{border:0}#lcw-demo-contexts td.v{grid-column:1/-1;grid-row:2;padding-top:0}',
    '}'
  ].join('');

  // A constructed style sheet is not an inline style, so a strict page
  // policy (style-src 'self') does not block it.
  function addStyles() {
    if (!('adoptedStyleSheets' in document) || typeof CSSStyleSheet !== 'function') { return; }
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
  }

  function el(tag, props, children) {
    var e = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === 'text') { e.textContent = props[k]; } else if (k === 'class') { e.className = props[k]; } else { e.setAttribute(k, props[k]); }
    });
    (children || []).forEach(function (c) { if (c) { e.appendChild(c); } });
    return e;
  }

  // chatIcon draws a speech bubble; SVG built through the DOM needs no
  // emoji font and no inline markup.
  function chatIcon() {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', '18');
    svg.setAttribute('height', '18');
    svg.setAttribute('aria-hidden', 'true');
    var path = document.createElementNS(ns, 'path');
    path.setAttribute('fill', 'currentColor');
    path.setAttribute('d', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z');
    svg.appendChild(path);
    return svg;
  }

  function buildUI() {
    addStyles();
    var button = el('button', { id: 'lcw-demo-chat-button', class: 'lcwdemo-button', type: 'button', title: 'Chat with us (simulated)' }, [
      chatIcon(), el('span', { text: 'Chat with us' }), el('small', { text: '(simulated)' })
    ]);
    var close = el('button', { class: 'lcwdemo-x', type: 'button', 'aria-label': 'Close', text: '\u00D7' });
    var status = el('p', { id: 'lcw-demo-status', class: 'lcwdemo-status lcwdemo-wait', text: 'Waiting for a chat to start\u2026' });
    var providerNote = el('p', { class: 'lcwdemo-note', text: provider ? 'token provider registered with setAuthTokenProvider' : 'no token provider registered yet' });
    var result = el('div', { id: 'lcw-demo-result' });
    var again = el('button', { id: 'lcw-demo-again', type: 'button', text: 'Ask for a new token' });
    var panel = el('div', { id: 'lcw-demo-panel', class: 'lcwdemo-panel', role: 'dialog', 'aria-label': 'Simulated Omnichannel chat widget' }, [
      el('div', { class: 'lcwdemo-head' }, [
        el('span', {}, [el('b', { text: 'Omnichannel chat ' }), el('span', { class: 'lcwdemo-tag', text: 'SIMULATED WIDGET' })]),
        close
      ]),
      el('div', { class: 'lcwdemo-body' }, [
        el('p', { class: 'lcwdemo-note', text: 'A stand-in for the Omnichannel live chat widget. It shows exactly what Omnichannel would receive from the token provider and checks it the way Omnichannel does. Nothing leaves this machine.' }),
        providerNote, status, result,
        el('div', { class: 'lcwdemo-actions' }, [again])
      ])
    ]);
    panel.hidden = true;
    button.addEventListener('click', startChat);
    again.addEventListener('click', startChat);
    close.addEventListener('click', function () { panel.hidden = true; });
    document.body.appendChild(panel);
    document.body.appendChild(button);
    ui = { panel: panel, status: status, result: result, providerNote: providerNote };
  }

  function setStatus(kind, text) {
    ui.status.className = 'lcwdemo-status lcwdemo-' + kind;
    ui.status.textContent = text;
  }

  function raise(code, message) {
    window.dispatchEvent(new CustomEvent('lcw:error', { detail: { errorCode: code, message: message } }));
    var err = new Error(message);
    err.lcwErrorCode = code;
    return err;
  }

  function lookup(path) {
    return path.split('.').reduce(function (o, k) { return o == null ? undefined : o[k]; }, window);
  }

  // getToken asks the provider like the real widget: fn(callback), at most
  // 10 seconds, lcw:error 2 when it fails, 3 when it gives no token, 8 when
  // there is no provider at all.
  function getToken() {
    var fn = provider || (cfg.clientFunction ? lookup(cfg.clientFunction) : undefined);
    if (typeof fn !== 'function') {
      return Promise.reject(raise(8, 'no auth token provider: neither setAuthTokenProvider nor a global ' + (cfg.clientFunction || 'client function')));
    }
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () { reject(raise(2, 'the token provider did not call back within 10 seconds')); }, PROVIDER_TIMEOUT_MS);
      try {
        fn(function (token) {
          clearTimeout(timer);
          if (!token) { reject(raise(3, 'the token provider gave no token (not signed in)')); return; }
          resolve(String(token));
        });
      } catch (e) {
        clearTimeout(timer);
        reject(raise(2, 'the token provider threw: ' + e));
      }
    });
  }

  function b64urlBytes(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) { s += '='; }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }

  function decodeJSON(part) {
    return JSON.parse(new TextDecoder().decode(b64urlBytes(part)));
  }

  function parseToken(jwt) {
    var parts = jwt.split('.');
    if (parts.length !== 3) { throw raise(4, 'the token is not a JWS compact serialization'); }
    try {
      return { parts: parts, header: decodeJSON(parts[0]), payload: decodeJSON(parts[1]) };
    } catch (e) {
      throw raise(4, 'the token header or payload is not base64url JSON: ' + e);
    }
  }

  // verify checks the signature the way Omnichannel's servers do: with the
  // RSA public key published at the public key URL of the chat
  // authentication setting.
  function verify(tok) {
    if (tok.header.alg !== 'RS256') { return Promise.reject(new Error('alg is ' + tok.header.alg + ', Omnichannel needs RS256')); }
    return fetch(cfg.publicKeyUrl, { credentials: 'omit', cache: 'no-store' }).then(function (resp) {
      if (!resp.ok) { throw new Error('GET ' + cfg.publicKeyUrl + ' answered ' + resp.status); }
      return resp.text();
    }).then(function (pem) {
      var m = /-----BEGIN PUBLIC KEY-----([\s\S]+?)-----END PUBLIC KEY-----/.exec(pem);
      if (!m) { throw new Error(cfg.publicKeyUrl + ' holds no PEM PUBLIC KEY'); }
      var der = Uint8Array.from(atob(m[1].replace(/\s+/g, '')), function (c) { return c.charCodeAt(0); });
      return crypto.subtle.importKey('spki', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
    }).then(function (key) {
      var signed = new TextEncoder().encode(tok.parts[0] + '.' + tok.parts[1]);
      return crypto.subtle.verify('RSASSA-PKCS1-v1_5', key, b64urlBytes(tok.parts[2]), signed);
    });
  }

  function when(secs) {
    return typeof secs === 'number' ? new Date(secs * 1000).toLocaleTimeString() : '(missing)';
  }

  function typeOf(v) { return v === null ? 'null' : typeof v; }

  function contextsTable(raw) {
    if (typeof raw !== 'string') {
      return el('p', { class: 'lcwdemo-status lcwdemo-bad', text: 'lwicontexts is ' + (raw === undefined ? 'missing' : 'not a string') + ': Omnichannel needs the serialized JSON object as a string' });
    }
    var ctx;
    try { ctx = JSON.parse(raw); } catch (e) {
      return el('p', { class: 'lcwdemo-status lcwdemo-bad', text: 'lwicontexts is not JSON: ' + e });
    }
    var rows = Object.keys(ctx).sort().map(function (k) {
      return el('tr', { 'data-key': k }, [
        el('td', { text: k }), el('td', { class: 'v', text: JSON.stringify(ctx[k]) }), el('td', { class: 't', text: typeOf(ctx[k]) })
      ]);
    });
    return el('table', { id: 'lcw-demo-contexts' }, [
      el('thead', {}, [el('tr', {}, [el('th', { text: 'context variable' }), el('th', { text: 'value' }), el('th', { text: 'type' })])]),
      el('tbody', {}, rows)
    ]);
  }

  function showToken(jwt, tok) {
    var p = tok.payload;
    ui.result.replaceChildren(
      el('h3', { text: 'Context variables the agent sees (lwicontexts)' }),
      contextsTable(p.lwicontexts),
      el('h3', { text: 'Who' }),
      el('table', { id: 'lcw-demo-claims' }, [el('tbody', {}, [
        el('tr', {}, [el('th', { text: 'sub' }), el('td', { class: 'v', text: String(p.sub) })]),
        el('tr', {}, [el('th', { text: 'iss' }), el('td', { class: 'v', text: String(p.iss) })]),
        el('tr', {}, [el('th', { text: 'valid' }), el('td', { text: when(p.nbf) + ' \u2013 ' + when(p.exp) + ' (issued ' + when(p.iat) + ')' })])
      ])]),
      el('h3', { text: 'JWT header' }),
      el('pre', { id: 'lcw-demo-header', text: JSON.stringify(tok.header, null, 2) }),
      el('h3', { text: 'JWT payload' }),
      el('pre', { id: 'lcw-demo-payload', text: JSON.stringify(p, null, 2) }),
      el('details', {}, [el('summary', { text: 'Raw token (' + jwt.length + ' characters)' }), el('pre', { text: jwt })])
    );
  }

  function showError(err) {
    var box = el('div', {});
    if (err.lcwErrorCode === 3 && cfg.loginUrl) {
      var here = location.pathname + location.search;
      box.appendChild(el('p', {}, [
        document.createTextNode('The page has no signed-in user, so there is no token to send. '),
        el('a', { id: 'lcw-demo-signin', href: cfg.loginUrl + '?rd=' + encodeURIComponent(here), text: 'Sign in' }),
        document.createTextNode(' and start the chat again.')
      ]));
    }
    ui.result.replaceChildren(box);
  }

  function startChat() {
    if (!ui) { return; }
    ui.panel.hidden = false;
    ui.result.replaceChildren();
    setStatus('wait', 'Asking the token provider for a token\u2026');
    var jwt;
    var tok;
    getToken().then(function (t) {
      jwt = t;
      tok = parseToken(jwt);
      if (typeof tok.payload.exp === 'number' && tok.payload.exp * 1000 <= Date.now()) {
        throw raise(4, 'New authentication token is already expired');
      }
      showToken(jwt, tok);
      setStatus('wait', 'Token received; verifying its signature with ' + cfg.publicKeyUrl + '\u2026');
      return verify(tok).then(function (ok) {
        if (ok) {
          setStatus('ok', '\u2714 Signature verified with ' + cfg.publicKeyUrl + ' (RS256)');
        } else {
          setStatus('bad', '\u2718 Signature INVALID for the key at ' + cfg.publicKeyUrl + ': Omnichannel would refuse this token (lcw:error 4)');
          raise(4, 'signature invalid');
        }
      }, function (e) {
        setStatus('bad', '\u2718 Could not verify the signature: ' + e.message);
      });
    }).catch(function (err) {
      var code = err.lcwErrorCode ? 'lcw:error ' + err.lcwErrorCode + ' \u2014 ' : '';
      setStatus('bad', '\u2718 ' + code + err.message);
      showError(err);
    });
  }

  function ready() {
    buildUI();
    window.dispatchEvent(new CustomEvent('lcw:ready'));
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', ready);
  } else {
    ready();
  }
})();
