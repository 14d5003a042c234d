/* Renders Microsoft's live chat widget (LiveChatWidget from the pinned
   @microsoft/omnichannel-chat-widget, bundled by build-ui.mjs) on the page,
   as Microsoft's README for the package shows: a real OmnichannelChatSDK,
   initialised, its live chat config, and the widget component around it
   (which wraps the SDK in its own FacadeChatSDK). Only this glue is ours;
   the chat button, the chat start, Web Chat and the ACS adapter are
   Microsoft's, driven by the test like a visitor. */
(function () {
  'use strict';
  var ms = window.MicrosoftUI;

  // What the widget logs as errors, for the test's messages.
  var consoleErrors = [];
  var consoleError = console.error;
  console.error = function () {
    consoleErrors.push(Array.prototype.map.call(arguments, function (a) {
      if (a && a.message) { return a.message; }
      try { return typeof a === 'string' ? a : JSON.stringify(a); } catch (e) { return String(a); }
    }).join(' ').slice(0, 1500));
    consoleError.apply(console, arguments);
  };

  // loaderGetAuthToken stands in for the hosted widget's loader (closed
  // source): as Microsoft documents it, it calls the client function named
  // in the chat authentication setting with a callback and waits up to 10
  // seconds. LiveChatWidget calls it as props.getAuthToken(name).
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

  window.lcwUI = {
    consoleErrors: consoleErrors,
    // render shows the widget's chat button; o carries the stand-in's
    // orgId, orgUrl and widgetId. It resolves to '' or the error.
    render: function (o) {
      var sdk = new ms.OmnichannelChatSDK(
        { orgId: o.orgId, orgUrl: o.orgUrl, widgetId: o.widgetId },
        { telemetry: { disable: true } });
      return sdk.initialize().then(function () {
        return sdk.getLiveChatConfig();
      }).then(function (chatConfig) {
        var el = document.createElement('div');
        el.id = 'lcw-ui';
        document.body.appendChild(el);
        ms.createRoot(el).render(ms.React.createElement(ms.LiveChatWidget, {
          chatSDK: sdk,
          chatConfig: chatConfig,
          getAuthToken: loaderGetAuthToken,
          telemetryConfig: { telemetryDisabled: true, disableConsoleLog: true }
        }));
        return '';
      }, function (err) {
        return String(err && err.message || err);
      });
    }
  };
})();
