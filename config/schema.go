package config

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// walk checks the shape of the document against the Go types before the
// real decode and records the line of every field path. The YAML decoder's
// own strict mode (KnownFields) reports unknown keys as "line 12: field macc
// not found in type config.RouterPort"; walking first lets every such
// problem name its path instead, and all of them are reported at once.
func (x *lineIndex) walk(n *yaml.Node, t reflect.Type, path string, p *problems) {
	if path != "" {
		x.byPath[path] = n.Line
	}
	if n.Kind == yaml.AliasNode {
		// Aliases would make line numbers point at the anchor and can
		// expand exponentially; a gateway config is better written out.
		p.add(path, "YAML aliases (*%s) are not supported; write the value out", n.Value)
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // absent: the zero value
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			p.add(path, "want a mapping of fields, got %s", describe(n))
			return
		}
		fields := yamlFields(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				p.errs = append(p.errs, &FieldError{Path: path, Line: k.Line, Msg: "keys must be plain names"})
				continue
			}
			fp := join(path, k.Value)
			if first, dup := seen[k.Value]; dup {
				p.errs = append(p.errs, &FieldError{Path: fp, Line: k.Line, Msg: fmt.Sprintf("written twice (first at line %d)", first)})
				continue
			}
			seen[k.Value] = k.Line
			ft, ok := fields[k.Value]
			if !ok {
				p.errs = append(p.errs, &FieldError{Path: fp, Line: k.Line, Msg: "unknown field (known: " + strings.Join(slices.Sorted(maps.Keys(fields)), ", ") + ")"})
				continue
			}
			x.walk(v, ft, fp, p)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			p.add(path, "want a mapping, got %s", describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				p.errs = append(p.errs, &FieldError{Path: path, Line: k.Line, Msg: "keys must be plain names"})
				continue
			}
			x.walk(v, t.Elem(), join(path, k.Value), p)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			p.add(path, "want a list, got %s", describe(n))
			return
		}
		for i, e := range n.Content {
			x.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), p)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			p.add(path, "want a single value, got %s", describe(n))
			return
		}
		if msg := checkScalar(n, t); msg != "" {
			p.add(path, "%s", msg)
		}
	}
}

// checkScalar reports why scalar n cannot be decoded into kind t, or "".
func checkScalar(n *yaml.Node, t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		if n.ShortTag() != "!!bool" {
			return fmt.Sprintf("%q is not true or false", n.Value)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v, err := strconv.ParseInt(n.Value, 0, 64)
		if n.ShortTag() != "!!int" || err != nil {
			return fmt.Sprintf("%q is not an integer", n.Value)
		}
		if lo, hi := intRange(t); v < lo || v > hi {
			return fmt.Sprintf("%d is out of range %d..%d", v, lo, hi)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v, err := strconv.ParseInt(n.Value, 0, 64)
		if n.ShortTag() != "!!int" || err != nil {
			return fmt.Sprintf("%q is not an integer", n.Value)
		}
		if hi := uint64(1)<<t.Bits() - 1; v < 0 || uint64(v) > hi {
			return fmt.Sprintf("%d is out of range 0..%d", v, hi)
		}
	}
	return ""
}

func intRange(t reflect.Type) (lo, hi int64) {
	if t.Bits() == 64 {
		return math.MinInt64, math.MaxInt64
	}
	return -1 << (t.Bits() - 1), 1<<(t.Bits()-1) - 1
}

// yamlFields maps the yaml keys of struct t to their field types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

// describe names a node's kind for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}
