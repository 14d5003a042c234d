// Package examples carries the IdP example configurations of this directory
// into the binary, so that lcw-auth-proxy init --idp NAME starts from
// exactly these files. The YAML files stay the one source of truth:
// config/examples_test.go loads each of them, and init renders from the
// same bytes.
package examples

import "embed"

// FS holds every *.yaml file of deploy/examples, by its file name.
//
//go:embed *.yaml
var FS embed.FS
