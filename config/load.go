package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment override: LCW_ + the upper-case key path
// with "_" between the parts, e.g. LCW_OIDC_CLIENT_SECRET.
const EnvPrefix = "LCW_"

// ConfigFileEnv names the config file when --config is not given. It is
// the one LCW_* variable that is not a configuration key.
const ConfigFileEnv = EnvPrefix + "CONFIG"

// LoadEnviron is Load with the environment given as os.Environ returns it
// ("NAME=value" pairs; the first of repeated names counts, as in
// os.Getenv). Knowing every name, it also refuses LCW_* variables that are
// no setting, naming the closest one: a misspelt LCW_UPSTREAM_ULR would
// otherwise be ignored and the proxy would run with a value nobody chose.
// Load keeps the getenv form for callers that have no list of names.
func LoadEnviron(path string, environ []string) (*Config, error) {
	if err := checkEnvNames(environ); err != nil {
		return nil, err
	}
	return Load(path, Getenv(environ))
}

// Getenv looks names up in environ ("NAME=value" pairs) as os.Getenv does
// in the process environment.
func Getenv(environ []string) func(string) string {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if _, seen := vars[name]; !seen {
			vars[name] = value
		}
	}
	return func(name string) string { return vars[name] }
}

// EnvNames lists every LCW_* variable that sets a configuration key.
func EnvNames() []string {
	cfg := Default()
	var names []string
	walkFields(reflect.ValueOf(&cfg).Elem(), "", func(path string, _ reflect.Value) {
		names = append(names, EnvName(path))
	})
	return names
}

// serviceLinkRE matches the variables Kubernetes adds for every Service in
// the namespace (enableServiceLinks): a Service named "lcw" or "lcw-…"
// gives LCW_SERVICE_HOST, LCW_…_PORT_4180_TCP and so on. They are not
// typos of ours, and refusing them would stop the proxy in any namespace
// that has such a Service.
var serviceLinkRE = regexp.MustCompile(`^LCW_(?:[A-Z0-9_]+_)?(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?|PORT(?:_[0-9]+_(?:TCP|UDP|SCTP)(?:_(?:PROTO|PORT|ADDR))?)?)$`)

// checkEnvNames refuses every LCW_* name in environ that sets nothing.
func checkEnvNames(environ []string) error {
	known := map[string]bool{ConfigFileEnv: true}
	for _, n := range EnvNames() {
		known[n] = true
	}
	var problems []string
	seen := map[string]bool{}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || known[name] || seen[name] || serviceLinkRE.MatchString(name) {
			continue
		}
		seen[name] = true
		msg := fmt.Sprintf("environment %s is not a setting", name)
		if s := closest(name, known); s != "" {
			msg += fmt.Sprintf("; did you mean %s?", s)
		}
		problems = append(problems, msg+" Correct the name or unset it (a setting is LCW_ + its key path in upper case with _ between the parts: upstream.url is LCW_UPSTREAM_URL)")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// closest returns the candidate nearest to name when it is close enough
// to be a typo of it.
func closest(name string, candidates map[string]bool) string {
	best, bestDist := "", len(name)/3+2
	for _, c := range slices.Sorted(maps.Keys(candidates)) {
		if d := levenshtein(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// Load reads the YAML file at path (empty path: defaults and environment
// only), applies LCW_* overrides from getenv, reads *_file secrets and
// validates everything once. The error lists every problem found.
func Load(path string, getenv func(string) string) (*Config, error) {
	cfg := Default()
	pos := newPositions()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config file: %w", err)
		}
		if err := decodeYAML(data, &cfg, pos); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		// Paths written in the file belong with the file: a config and its
		// secrets can move together, and the result never depends on where
		// the proxy happens to be started from.
		dir, err := filepath.Abs(filepath.Dir(path))
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		resolvePaths(reflect.ValueOf(&cfg).Elem(), dir)
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	fromEnv, err := applyEnv(&cfg, getenv)
	if err != nil {
		return nil, err
	}
	// What is left relative came from the environment, typed in a shell or
	// a manifest where the current directory is the natural base.
	cwd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("resolve relative paths: %w", err)
	}
	resolvePaths(reflect.ValueOf(&cfg).Elem(), cwd)
	if err := cfg.resolve(whereFrom(pos, fromEnv), getenv); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// whereFrom says where the value of a key came from, for validation
// problems: "line N" of the file, or "environment LCW_…". A key that is
// not written anywhere (a missing required key) is placed at its nearest
// written parent, such as the "session:" line for session.secret; a key
// with no written parent gets "".
func whereFrom(pos *positions, fromEnv map[string]string) func(key string) string {
	return func(key string) string {
		for k := key; k != ""; k = parentKey(k) {
			if name, ok := fromEnv[k]; ok {
				return "environment " + name // the environment overrides the file
			}
		}
		for k := key; k != ""; k = parentKey(k) {
			if line, ok := pos.lineOf[k]; ok {
				return fmt.Sprintf("line %d", line)
			}
		}
		return ""
	}
}

// parentKey drops the last part of a key path: "a.b[0].c" → "a.b[0]" →
// "a.b" → "a" → "".
func parentKey(key string) string {
	if strings.HasSuffix(key, "]") {
		if i := strings.LastIndexByte(key, '['); i >= 0 {
			return key[:i]
		}
	}
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[:i]
	}
	return ""
}

// positions remembers where keys are in the file, both ways: decode errors
// come with a line, validation problems with a key.
type positions struct {
	keyAt  map[int]string // line → the innermost key on it
	lineOf map[string]int // key → the line it is written on
}

func newPositions() *positions {
	return &positions{keyAt: map[int]string{}, lineOf: map[string]int{}}
}

func (p *positions) note(line int, key string) {
	p.keyAt[line] = key
	if _, ok := p.lineOf[key]; !ok {
		p.lineOf[key] = line
	}
}

// resolvePaths makes every relative path in the fields tagged path:"true"
// (strings or lists of strings, at any depth) absolute against base.
func resolvePaths(v reflect.Value, base string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			resolvePaths(v.Elem(), base)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			resolvePaths(v.Index(i), base)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); !f.IsExported() || name == "-" {
				continue // derived values are computed from resolved ones
			}
			if f.Tag.Get("path") != "true" {
				resolvePaths(v.Field(i), base)
				continue
			}
			switch fv := v.Field(i); fv.Kind() {
			case reflect.String:
				fv.SetString(absPath(base, fv.String()))
			case reflect.Slice:
				// A fresh slice: the caller's (Default's) backing array is
				// never written into.
				out := reflect.MakeSlice(fv.Type(), fv.Len(), fv.Len())
				for j := 0; j < fv.Len(); j++ {
					out.Index(j).SetString(absPath(base, fv.Index(j).String()))
				}
				fv.Set(out)
			}
		}
	}
}

func absPath(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

func decodeYAML(data []byte, cfg *Config, pos *positions) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file: defaults
		}
		return syntaxError(data, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: the file must be a mapping of keys (listen:, upstream:, …), not a %s", root.Line, kindName(root.Kind))
	}
	var problems []string
	checkKeys(root, reflect.TypeOf(*cfg), "", pos, &problems)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	if err := root.Decode(cfg); err != nil {
		return explainDecode(err, pos.keyAt)
	}
	return nil
}

// syntaxError reports a YAML syntax error at the line where the document
// stops being YAML. The parser names the wrong line for some mistakes (for
// a key indented less than its neighbours it counts lines from 0, or names
// the line where the enclosing mapping began), so the line is found by
// parsing ever longer beginnings of the file until one fails with the same
// problem: the last line taken is the culprit.
func syntaxError(data []byte, err error) error {
	msg := trimYAMLPrefix(err).Error()
	problem := yamlLineRE.ReplaceAllString(msg, "")
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > maxLocateLines {
		return fmt.Errorf("YAML syntax: %s", msg)
	}
	for i := range lines {
		var n yaml.Node
		perr := yaml.Unmarshal(bytes.Join(lines[:i+1], nil), &n)
		if perr == nil || yamlLineRE.ReplaceAllString(trimYAMLPrefix(perr).Error(), "") != problem {
			continue
		}
		text := strings.TrimRight(string(lines[i]), "\r\n")
		hint := ""
		if strings.Contains(problem, "expected key") || strings.Contains(problem, "mapping values are not allowed") {
			hint = "; check its indentation: a key lines up with the other keys of its section"
		}
		// The line may hold a URL with its password.
		return fmt.Errorf("YAML syntax: line %d: %s%s:\n    %s", i+1, problem, hint, redactURL(text))
	}
	return fmt.Errorf("YAML syntax: %s", msg)
}

// maxLocateLines bounds the re-parsing syntaxError does: a configuration
// is far shorter, and for anything longer the parser's own line stands.
const maxLocateLines = 2000

var yamlLineRE = regexp.MustCompile(`^line \d+: `)

func trimYAMLPrefix(err error) error {
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	default:
		return "document"
	}
}

// checkKeys reports every key that the target type does not have, with the
// closest known key as a suggestion, and remembers which key each line holds
// so that decode errors can name it.
func checkKeys(n *yaml.Node, t reflect.Type, path string, pos *positions, problems *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.AliasNode:
		checkKeys(n.Alias, t, path, pos, problems)
	case t.Kind() == reflect.Struct && t != reflect.TypeOf(Duration(0)):
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type mismatch with its line
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := joinPath(path, k.Value)
			pos.note(k.Line, key)
			pos.note(v.Line, key)
			f, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("line %d: unknown key %q", k.Line, key)
				// The exact key in another section beats a typo here.
				if at := keyElsewhere(reflect.TypeOf(Config{}), "", k.Value); len(at) > 0 {
					msg += fmt.Sprintf("; did you mean %s? (the key belongs in another section)", strings.Join(at, " or "))
				} else if s := suggest(k.Value, fields); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", joinPath(path, s))
				}
				*problems = append(*problems, msg)
				continue
			}
			checkKeys(v, f.Type, key, pos, problems)
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := joinPath(path, k.Value)
			pos.note(k.Line, key)
			checkKeys(v, t.Elem(), key, pos, problems)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			key := fmt.Sprintf("%s[%d]", path, i)
			pos.note(item.Line, key)
			checkKeys(item, t.Elem(), key, pos, problems)
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	fields := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		fields[name] = f
	}
	return fields
}

// keyElsewhere lists the full paths of t's keys named name, in any section:
// a key written at the wrong level (a top-level required_groups) is found
// where it belongs (access.required_groups).
func keyElsewhere(t reflect.Type, path, name string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(Duration(0)) || strings.Count(path, ".") > 3 {
		return nil
	}
	var out []string
	fields := yamlFields(t)
	for _, n := range slices.Sorted(maps.Keys(fields)) {
		key := joinPath(path, n)
		if n == name {
			out = append(out, strconv.Quote(key))
		}
		out = append(out, keyElsewhere(fields[n].Type, key, name)...)
	}
	return out
}

// suggest returns the known key closest to key when it is close enough to be
// a typo.
func suggest(key string, fields map[string]reflect.StructField) string {
	best, bestDist := "", len(key)/2+2
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if d := levenshtein(strings.ToLower(key), name); d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var lineRE = regexp.MustCompile(`line (\d+): `)

// explainDecode rewrites the decoder's "line N: cannot unmarshal …" errors so
// each names the key at that line.
func explainDecode(err error, lines map[int]string) error {
	errs := []string{trimYAMLPrefix(err).Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs = te.Errors
	}
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msg := lineRE.ReplaceAllStringFunc(e, func(m string) string {
			n, _ := strconv.Atoi(lineRE.FindStringSubmatch(m)[1])
			if key, ok := lines[n]; ok {
				return fmt.Sprintf("line %d: key %q: ", n, key)
			}
			return m
		})
		msgs = append(msgs, msg)
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// UnmarshalYAML accepts Go durations ("90s", "10m", "1h30m").
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	return d.parse(n.Value, n.Line)
}

func (d *Duration) parse(s string, line int) error {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		if line > 0 {
			return fmt.Errorf("line %d: %q is not a duration: write it like 30s, 10m or 1h30m", line, s)
		}
		return fmt.Errorf("%q is not a duration: write it like 30s, 10m or 1h30m", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes durations back the way they are read.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// applyEnv sets every field whose LCW_* variable is non-empty and returns
// the keys it set, with their variables. Strings are taken verbatim (a
// secret may contain any character); everything else is parsed as YAML, so
// lists can be written [a, b] or a,b.
func applyEnv(cfg *Config, getenv func(string) string) (map[string]string, error) {
	var problems []string
	set := map[string]string{}
	walkFields(reflect.ValueOf(cfg).Elem(), "", func(path string, v reflect.Value) {
		name := EnvName(path)
		raw := getenv(name)
		if raw == "" {
			return
		}
		set[path] = name
		if err := setFromEnv(v, raw); err != nil {
			problems = append(problems, fmt.Sprintf("environment %s (key %q): %v", name, path, redactURL(err.Error())))
		}
	})
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return set, nil
}

// EnvName is the environment variable that overrides the key at path.
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

func walkFields(v reflect.Value, path string, fn func(path string, v reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		p := joinPath(path, name)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration(0)) {
			walkFields(fv, p, fn)
			continue
		}
		fn(p, fv)
	}
}

func setFromEnv(v reflect.Value, raw string) error {
	switch {
	case v.Kind() == reflect.String:
		v.SetString(raw)
		return nil
	case v.Type() == reflect.TypeOf(Duration(0)):
		var d Duration
		if err := d.parse(raw, 0); err != nil {
			return err
		}
		v.Set(reflect.ValueOf(d))
		return nil
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String && !strings.HasPrefix(strings.TrimSpace(raw), "["):
		parts := strings.Split(raw, ",")
		out := reflect.MakeSlice(v.Type(), 0, len(parts))
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				out = reflect.Append(out, reflect.ValueOf(p))
			}
		}
		v.Set(out)
		return nil
	}
	target := reflect.New(v.Type())
	if err := yaml.Unmarshal([]byte(raw), target.Interface()); err != nil {
		return fmt.Errorf("cannot read %q as %s: %v", raw, typeName(v.Type()), trimYAMLPrefix(err))
	}
	v.Set(target.Elem())
	return nil
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Slice:
		return "a list"
	case reflect.Map:
		return "a mapping"
	}
	return t.String()
}
