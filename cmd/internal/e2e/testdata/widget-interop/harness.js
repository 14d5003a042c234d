/* Drives Microsoft's chat code (microsoft.js, built from the pinned npm
   packages) the way the live chat widget does, against a stand-in for
   Omnichannel, with the page's real bootstrap.js from the proxy. Only the
   order of calls is ours; every step that touches the token is Microsoft's. */
(function () {
  'use strict';
  var oss = window.MicrosoftOSS;

  // The widget opens its broadcast channel when it starts
  // (LiveChatWidgetStateful); FacadeChatSDK reports its errors on it.
  oss.BroadcastServiceInitialize('lcw-interop');
  var widgetErrors = [];
  oss.BroadcastService.getMessageByEventName('OnWidgetError').subscribe(function (m) {
    widgetErrors.push(m.payload && m.payload.errorMessage);
  });

  // What the widget logs as errors, to tell its failures apart.
  var consoleErrors = [];
  var consoleError = console.error;
  console.error = function () {
    consoleErrors.push(Array.prototype.map.call(arguments, function (a) {
      return a && a.message ? a.message : String(a);
    }).join(' '));
    consoleError.apply(console, arguments);
  };

  // loaderGetAuthToken stands in for the hosted widget's loader, which is
  // not open source: as Microsoft documents it, it calls the client function
  // named in the chat authentication setting with a callback and waits up
  // to 10 seconds.
  function loaderGetAuthToken(name) {
    return new Promise(function (resolve) {
      var fn = name.split('.').reduce(function (o, k) { return o && o[k]; }, window);
      if (typeof fn !== 'function') {
        resolve(null);
        return;
      }
      var timer = setTimeout(function () { resolve(null); }, 10000);
      fn(function (token) {
        clearTimeout(timer);
        resolve(token);
      });
    });
  }

  // within bounds a step, so a hang is a result the test sees, not a
  // test that times out.
  function within(ms, p) {
    return Promise.race([p, new Promise(function (resolve, reject) {
      setTimeout(function () { reject(new Error('no answer within ' + ms + ' ms')); }, ms);
    })]);
  }

  var state = null;

  function result(start, err) {
    var r = {
      ok: !err,
      error: err ? String(err && err.message || err) : '',
      chatId: state && state.chatToken ? state.chatToken.chatId : '',
      widgetToken: state ? state.facade.token || '' : '',
      sdkToken: state ? state.sdk.authenticatedUserToken || '' : '',
      widgetErrors: [],
      consoleErrors: consoleErrors.slice(),
      ms: Date.now() - start
    };
    // BroadcastService delivers a page's own messages from a queue, after
    // 500 ms: give a failure's OnWidgetError time to arrive.
    return new Promise(function (resolve) {
      var n = 0;
      (function poll() {
        if (!err || widgetErrors.length > 0 || ++n > 30) {
          r.widgetErrors = widgetErrors.slice();
          resolve(r);
        } else {
          setTimeout(poll, 100);
        }
      })();
    });
  }

  window.interop = {
    // start begins a widget session and a chat: the SDK pointed at the
    // stand-in, the widget's FacadeChatSDK around it, initialize() (the
    // facade's token check, then the SDK's config request and its own call
    // of the auth provider) and getChatToken(false), which sends the token
    // to Omnichannel as AuthenticatedUserToken.
    //
    // o.host "sdk": the SDK object is the page's
    // Microsoft.Omnichannel.LiveChatWidget.SDK, so bootstrap.js registers
    // its function with the SDK's own setAuthTokenProvider (which calls it
    // with no arguments and awaits it); the facade then takes the SDK's
    // provider. o.host "loader": no SDK object on the page; the facade asks
    // the loader for the client function's token, with a callback.
    start: function (o) {
      var begin = Date.now();
      widgetErrors.length = 0;
      consoleErrors.length = 0;
      var sdk = new oss.OmnichannelChatSDK(
        { orgId: o.orgId, orgUrl: o.orgUrl, widgetId: o.widgetId },
        { telemetry: { disable: true } });
      if (o.host === 'sdk') {
        window.Microsoft = { Omnichannel: { LiveChatWidget: { SDK: sdk } } };
        window.dispatchEvent(new CustomEvent('lcw:ready'));
      }
      var facade = new oss.FacadeChatSDK({
        chatSDK: sdk,
        chatConfig: { LiveChatConfigAuthSettings: { msdyn_javascriptclientfunction: o.clientFunction } },
        isAuthenticated: true,
        getAuthToken: o.host === 'loader' ? loaderGetAuthToken : undefined,
        isSDKMocked: false
      }, false);
      state = { sdk: sdk, facade: facade, chatToken: null };
      return within(20000, facade.initialize().then(function () {
        return facade.getChatToken(false);
      })).then(function (chatToken) {
        state.chatToken = chatToken;
        return result(begin);
      }, function (err) {
        return result(begin, err);
      });
    },

    // more is the chat going on: the next SDK call through the facade,
    // which asks for a new token first when the one it holds has expired
    // by the page's clock.
    more: function () {
      var begin = Date.now();
      return within(20000, state.facade.getChatToken(false)).then(function (chatToken) {
        state.chatToken = chatToken;
        return result(begin);
      }, function (err) {
        return result(begin, err);
      });
    },

    // expired reports whether the facade takes its token for expired now.
    expired: function () {
      return state.facade.isTokenExpired();
    },

    // advanceClock moves the page's clock forward, standing in for time
    // passing during a chat.
    advanceClock: function (seconds) {
      var now = Date.now;
      Date.now = function () { return now.call(Date) + seconds * 1000; };
    }
  };
})();
