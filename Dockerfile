# syntax=docker/dockerfile:1
# Static, non-root image of the production binary (the demo is never included).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# The one build command, shared with make test's image check (deploy/image/build.sh).
RUN sh deploy/image/build.sh /out/lcw-auth-proxy "${VERSION}"

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/lcw-auth-proxy /lcw-auth-proxy
USER nonroot:nonroot
EXPOSE 4180 9090
ENTRYPOINT ["/lcw-auth-proxy"]
CMD ["serve", "--config", "/etc/lcw-auth-proxy/config.yaml"]
