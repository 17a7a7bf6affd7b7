// Command render is a small, offline stand-in for `helm template`, so that
// scripts/lib/chart-check.sh can render charts/ai-video where no helm binary is
// available. It builds from Debian packages alone (golang-go,
// golang-github-masterminds-sprig-dev, golang-github-ghodss-yaml-dev) in GOPATH
// mode, where sprig v3 is imported without its /v3 suffix:
//
//	GO111MODULE=off GOPATH=$HOME/go:/usr/share/gocode go build -o render .
//	render --chart charts/ai-video --name ai-video --namespace video \
//	    -f charts/ai-video/ci/minimal-values.yaml --values-out values.json >manifests.yaml
//
// It implements the part of Helm the chart uses, the way Helm does it:
// values.yaml coalesced with -f files (maps merge, a later file wins, null
// deletes a key), numbers in values are float64 (Helm reads values through
// JSON), .Release, .Chart (from Chart.yaml), .Template, .Files.Get, every
// template file as a named template, include, tpl, required, toYaml / fromYaml /
// toJson / fromJson, sprig's functions without env and expandenv,
// missingkey=zero with "<no value>" removed, files starting with "_" as
// partials, NOTES.txt rendered but not printed, and the output split into
// documents, empty ones dropped, each preceded by "# Source:". Every document
// must parse as YAML and have apiVersion, kind and metadata.name. Schema
// validation of the values (values.schema.json) is left to the caller, who
// gets the coalesced values as JSON with --values-out.
//
// What it does not do: subcharts, .Capabilities, lookup, --set, hooks ordering
// and kind sorting (documents come out in template file order).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"github.com/ghodss/yaml"
)

// Chart holds the fields of Chart.yaml that templates read as .Chart.
type Chart struct {
	APIVersion  string `json:"apiVersion"`
	Name        string `json:"name"`
	Version     string `json:"version"`
	AppVersion  string `json:"appVersion"`
	Description string `json:"description"`
	Type        string `json:"type"`
}

// Files gives templates the chart's non-template files, as Helm's .Files does.
type Files map[string][]byte

// Get returns a file's content, or "" when the chart has no such file.
func (f Files) Get(name string) string { return string(f[name]) }

// GetBytes returns a file's content as bytes.
func (f Files) GetBytes(name string) []byte { return f[name] }

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

const recursionMax = 1000

func main() {
	var (
		chartDir  = flag.String("chart", ".", "the chart directory")
		name      = flag.String("name", "release-name", "the release name")
		namespace = flag.String("namespace", "default", "the release namespace")
		valuesOut = flag.String("values-out", "", "write the coalesced values as JSON to this file")
		files     valueFiles
	)
	flag.Var(&files, "f", "a values file (repeatable; later files win)")
	flag.Parse()
	if err := run(*chartDir, *name, *namespace, files, *valuesOut); err != nil {
		fmt.Fprintf(os.Stderr, "render: %v\n", err)
		os.Exit(1)
	}
}

func run(chartDir, name, namespace string, files []string, valuesOut string) error {
	var chart Chart
	if err := readYAML(filepath.Join(chartDir, "Chart.yaml"), &chart); err != nil {
		return err
	}
	if chart.Name == "" || chart.Version == "" {
		return errors.New("Chart.yaml: name and version are required")
	}
	values := map[string]interface{}{}
	if err := readYAML(filepath.Join(chartDir, "values.yaml"), &values); err != nil {
		return err
	}
	for _, f := range files {
		user := map[string]interface{}{}
		if err := readYAML(f, &user); err != nil {
			return err
		}
		coalesce(values, user)
	}
	if valuesOut != "" {
		data, err := json.MarshalIndent(values, "", "  ")
		if err != nil {
			return err
		}
		if err := ioutil.WriteFile(valuesOut, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	templates, chartFiles, err := loadChart(chartDir, chart.Name)
	if err != nil {
		return err
	}
	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": name, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": chart,
		"Files": chartFiles,
	}
	out, err := render(chart.Name, templates, top)
	if err != nil {
		return err
	}
	_, err = os.Stdout.WriteString(out)
	return err
}

// readYAML reads a YAML file the way Helm does: through JSON, so numbers are float64.
func readYAML(file string, into interface{}) error {
	data, err := ioutil.ReadFile(file)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	return nil
}

// coalesce merges src into dst: maps merge recursively, other values replace,
// and a null in src deletes the key, as Helm's values coalescing does.
func coalesce(dst, src map[string]interface{}) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			coalesce(dm, sm)
			continue
		}
		dst[k] = v
	}
}

// loadChart reads templates/ (keyed by Helm's template names,
// "<chart>/templates/<path>") and every other file for .Files.
func loadChart(dir, chartName string) (map[string]string, Files, error) {
	templates := map[string]string{}
	files := Files{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		data, err := ioutil.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			templates[path.Join(chartName, rel)] = string(data)
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json":
		default:
			files[rel] = data
		}
		return nil
	})
	return templates, files, err
}

func render(chartName string, templates map[string]string, top map[string]interface{}) (string, error) {
	t := template.New("gotpl").Option("missingkey=zero")
	includedNames := map[string]int{}
	funcs := funcMap()
	funcs["include"] = func(name string, data interface{}) (string, error) {
		if includedNames[name] > recursionMax {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		includedNames[name]++
		defer func() { includedNames[name]-- }()
		var buf strings.Builder
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		parsed, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %v", text, err)
		}
		var buf strings.Builder
		if err := parsed.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %v", text, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	t.Funcs(funcs)

	names := make([]string, 0, len(templates))
	for n := range templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := t.New(n).Parse(templates[n]); err != nil {
			return "", err
		}
	}

	var out strings.Builder
	base := path.Join(chartName, "templates")
	for _, n := range names {
		file := path.Base(n)
		if strings.HasPrefix(file, "_") {
			continue
		}
		scope := map[string]interface{}{}
		for k, v := range top {
			scope[k] = v
		}
		scope["Template"] = map[string]interface{}{"Name": n, "BasePath": base}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, n, scope); err != nil {
			return "", err
		}
		if file == "NOTES.txt" {
			continue
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		for i, doc := range splitManifests(text) {
			if err := checkManifest(doc); err != nil {
				return "", fmt.Errorf("%s (document %d): %v\n%s", n, i+1, err, doc)
			}
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", n, doc)
		}
	}
	return out.String(), nil
}

var separator = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

// splitManifests splits a rendered file into YAML documents and drops empty ones.
func splitManifests(text string) []string {
	var docs []string
	for _, d := range separator.Split(text, -1) {
		d = strings.TrimSpace(d)
		if d == "" || onlyComments(d) {
			continue
		}
		docs = append(docs, d)
	}
	return docs
}

func onlyComments(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

// checkManifest makes sure a document is YAML and names what it is, as Helm
// refuses to install a manifest it cannot parse.
func checkManifest(doc string) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
		return fmt.Errorf("YAML parse error: %v", err)
	}
	if head.APIVersion == "" || head.Kind == "" || head.Metadata.Name == "" {
		return errors.New("apiVersion, kind and metadata.name are required")
	}
	return nil
}

// funcMap is sprig's function map with Helm's own functions added and the ones
// Helm removes taken out.
func funcMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = func(v interface{}) string {
		data, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(data), "\n")
	}
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["toJson"] = func(v interface{}) string {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return ""
		}
		return strings.TrimSuffix(buf.String(), "\n")
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	// Placeholders replaced in render, as Helm does.
	f["include"] = func(string, interface{}) string { return "" }
	f["tpl"] = func(string, interface{}) string { return "" }
	return f
}
