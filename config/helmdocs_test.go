package config_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var updateChartReadme = flag.Bool("update-chart-readme", false, "rewrite the values table of the Helm chart's README.md from values.yaml")

const (
	valuesTableStart = "<!-- values:start (generated from values.yaml's \"# --\" comments: go test ./config -run TestHelmChartReadme -update-chart-readme) -->"
	valuesTableEnd   = "<!-- values:end -->"
)

// valueDoc is one row of the values table.
type valueDoc struct {
	key, typ, def, desc string
}

// TestHelmChartReadme keeps the chart README's values table generated from
// values.yaml, helm-docs style: a "# -- description" comment documents the
// key below it (a map documented as a whole is one row; its children get
// rows of their own only when they have their own comment), "# @default --
// text" replaces the default shown. Every value must be documented, by its
// own comment or an ancestor's. The table is stale when values.yaml changed
// without it: the test says how to regenerate it.
func TestHelmChartReadme(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, problems := valuesDocs(data)
	for _, p := range problems {
		t.Errorf("values.yaml: %s", p)
	}
	table := renderValuesTable(docs)

	readmePath := filepath.Join(chartDir, "README.md")
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := bytes.Cut(readme, []byte(valuesTableStart))
	_, after, ok2 := bytes.Cut(rest, []byte(valuesTableEnd))
	if !ok1 || !ok2 {
		t.Fatalf("%s has no %s … %s markers", readmePath, valuesTableStart, valuesTableEnd)
	}
	want := slicesConcat(before, []byte(valuesTableStart+"\n"), []byte(table), []byte(valuesTableEnd), after)
	if bytes.Equal(readme, want) {
		return
	}
	if *updateChartReadme {
		if err := os.WriteFile(readmePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's values table is stale: run go test ./config -run TestHelmChartReadme -update-chart-readme", readmePath)
}

func slicesConcat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestValuesDocsParser: the parser reads the comment styles values.yaml
// uses and refuses an undocumented value.
func TestValuesDocsParser(t *testing.T) {
	docs, problems := valuesDocs([]byte(`# file header

# -- Pods.
# Two lines.
replicas: 2
image:
  # -- The tag.
  # @default -- the appVersion
  tag: ""
  # not a doc comment
  policy: Always
# -- A map as a whole.
whole: {a: 1}
`))
	if len(problems) != 1 || !strings.Contains(problems[0], "image.policy") {
		t.Errorf("problems %q, want one for image.policy", problems)
	}
	want := []valueDoc{
		{"replicas", "int", "`2`", "Pods. Two lines."},
		{"image.tag", "string", "the appVersion", "The tag."},
		{"whole", "object", "`{\"a\":1}`", "A map as a whole."},
	}
	if fmt.Sprint(docs) != fmt.Sprint(want) {
		t.Errorf("docs\n%q\nwant\n%q", docs, want)
	}
}

// valuesDocs walks values.yaml's mapping keys in file order.
func valuesDocs(data []byte) ([]valueDoc, []string) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, []string{err.Error()}
	}
	if len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, []string{"not a mapping"}
	}
	var docs []valueDoc
	var problems []string
	var walk func(n *yaml.Node, prefix string, documented bool)
	walk = func(n *yaml.Node, prefix string, documented bool) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if prefix != "" {
				key = prefix + "." + k.Value
			}
			desc, def, ok := docComment(k.HeadComment)
			if ok {
				if def == "" {
					def = "`" + strings.ReplaceAll(defaultJSON(v), "|", `\|`) + "`"
				}
				docs = append(docs, valueDoc{key, nodeType(v), def, desc})
			}
			switch {
			case v.Kind == yaml.MappingNode && len(v.Content) > 0:
				walk(v, key, documented || ok)
			case !ok && !documented:
				problems = append(problems, fmt.Sprintf("%s has no \"# --\" description (on it or a map above it)", key))
			}
		}
	}
	walk(root.Content[0], "", false)
	return docs, problems
}

// docComment reads a helm-docs comment: from the line starting "# --" to
// the end of the head comment, "# @default --" lines apart.
func docComment(head string) (desc, def string, ok bool) {
	lines := strings.Split(head, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "# --") {
			start = i
		}
	}
	if start < 0 {
		return "", "", false
	}
	var words []string
	for i, l := range lines[start:] {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "#"))
		if i == 0 {
			l = strings.TrimSpace(strings.TrimPrefix(l, "--"))
		}
		if d, ok := strings.CutPrefix(l, "@default --"); ok {
			def = strings.TrimSpace(d)
			continue
		}
		if l != "" {
			words = append(words, l)
		}
	}
	return strings.Join(words, " "), def, true
}

func nodeType(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "object"
	case n.Kind == yaml.SequenceNode:
		return "list"
	case n.Tag == "!!int":
		return "int"
	case n.Tag == "!!bool":
		return "bool"
	case n.Tag == "!!float":
		return "float"
	default:
		return "string"
	}
}

func defaultJSON(n *yaml.Node) string {
	var v any
	if err := n.Decode(&v); err != nil {
		return "?"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}

func renderValuesTable(docs []valueDoc) string {
	var b strings.Builder
	b.WriteString("| Key | Type | Default | Description |\n|-----|------|---------|-------------|\n")
	for _, d := range docs {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", d.key, d.typ, d.def, strings.ReplaceAll(d.desc, "|", `\|`))
	}
	return b.String()
}
