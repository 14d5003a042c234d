package main

import (
	"embed"
	"net/http"
)

// widgetLoaderPath mirrors the path of Omnichannel's loader on its CDN, so
// the injected tag looks like the real one.
const widgetLoaderPath = "/livechatwidget/scripts/LiveChatBootstrapper.js"

//go:embed assets/widget/LiveChatBootstrapper.js
var widgetFiles embed.FS

// widgetHost stands in for Omnichannel's CDN: it serves the simulated widget
// loader from an origin of its own, as the real loader comes from another
// origin than the site, so the page's CSP has to let it in the same way.
func widgetHost() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+widgetLoaderPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, widgetFiles, "assets/widget/LiveChatBootstrapper.js")
	})
	return mux
}
