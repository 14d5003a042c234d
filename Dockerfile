# syntax=docker/dockerfile:1
# Static, non-root image of the production binary (the demo is never included).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/lcw-auth-proxy ./cmd/lcw-auth-proxy

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/lcw-auth-proxy /lcw-auth-proxy
USER nonroot:nonroot
EXPOSE 4180 9090
ENTRYPOINT ["/lcw-auth-proxy"]
CMD ["serve", "--config", "/etc/lcw-auth-proxy/config.yaml"]
