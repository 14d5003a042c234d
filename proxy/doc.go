// Package proxy is the HTTP side of lcw-auth-proxy: the handler tree (every
// endpoint and the upstream chain, in routes.go), the httputil.ReverseProxy
// toward the upstream with its header hygiene and transport, the access log
// and request metrics, and the listeners with graceful shutdown.
package proxy
