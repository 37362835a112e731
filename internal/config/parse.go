package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/suggest"
)

// Parse reads a YAML config from r on top of the defaults. filename is used
// only in messages. Parse has no side effects: it opens nothing and resolves
// nothing.
//
// Text that is not YAML is an error with no Config. Structural problems —
// unknown keys, a list where a map belongs, a bad duration — are all
// collected and returned as one *spangate.Error of kind Invalid wrapping
// Problems; the Config decoded from the rest of the file is returned with
// it, so Load can report the remaining problems too. Call Validate (or use
// Load) before using the Config.
func Parse(r io.Reader, filename string) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "%s: read config: %w", filename, err)
	}
	if len(data) > MaxFileSize {
		return nil, spangate.Errorf(spangate.Invalid, "%s: config is larger than %d bytes", filename, MaxFileSize)
	}
	cfg := Default()
	cfg.file = filename
	cfg.nodes = map[string]location{}

	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return cfg, nil // an empty file: defaults only; Validate says what is missing
		}
		return nil, spangate.Errorf(spangate.Invalid, "%s: not valid YAML: %w", filename, err).
			WithHint("check indentation and quoting near the line named")
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return nil, spangate.Errorf(spangate.Invalid, "%s: not valid YAML: %w", filename, err)
		}
		return nil, spangate.Errorf(spangate.Invalid, "%s:%d: the file holds more than one YAML document", filename, line).
			WithHint("remove the --- separator and merge the documents")
	}

	d := &decoder{cfg: cfg, lines: bytes.Split(data, []byte("\n"))}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.decode(nil, root, "", reflect.ValueOf(cfg).Elem())
	return cfg, d.problems.Err(filename)
}

// Load parses the config from r and validates it, returning every problem
// found by either step in one error.
func Load(r io.Reader, filename string) (*Config, error) {
	cfg, err := Parse(r, filename)
	if cfg == nil {
		return nil, err
	}
	var parsed Problems
	if err != nil && !errors.As(err, &parsed) {
		return nil, err
	}
	var invalid Problems
	if verr := cfg.Validate(); verr != nil && !errors.As(verr, &invalid) {
		return nil, verr
	}
	if err := parsed.Merge(invalid).Err(filename); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decoder maps YAML nodes onto the Config struct by reflection, recording
// the position of every field and collecting problems instead of stopping at
// the first.
type decoder struct {
	cfg      *Config
	lines    [][]byte
	problems Problems
}

var durationType = reflect.TypeFor[time.Duration]()

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	pos := Position{File: d.cfg.file}
	if n != nil {
		pos.Line = n.Line
	}
	d.problems = append(d.problems, Problem{Pos: pos, Path: path, Message: fmt.Sprintf(format, args...)})
}

// remember records where path's value is. key is the node of the key that
// names the value, if any: problems about a whole map or list point at its
// key's line rather than at its first entry.
func (d *decoder) remember(key, n *yaml.Node, path string) {
	if path == "" {
		return
	}
	loc := location{line: n.Line, column: n.Column}
	if key != nil {
		loc.line = key.Line
	}
	switch {
	case n.Kind == yaml.ScalarNode && n.Style&yaml.LiteralStyle != 0:
		// The content starts on the line after the indicator; YAML removes
		// the indentation of its first non-empty line from every line.
		loc.block = true
		loc.lines = strings.Count(strings.TrimSuffix(n.Value, "\n"), "\n") + 1
		for i := range loc.lines {
			if line := n.Line + 1 + i; len(bytes.TrimSpace(d.lineAt(line))) > 0 {
				loc.indent = d.indent(line)
				break
			}
		}
	case n.Kind == yaml.ScalarNode && n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0:
		loc.quoted = true
	case n.Kind == yaml.ScalarNode && (n.Style&yaml.FoldedStyle != 0 || n.Style == 0):
		if segs := d.foldedSegments(n); len(segs) > 0 {
			loc.value, loc.segs = n.Value, segs
		}
	}
	d.cfg.nodes[path] = loc
}

// foldedSegments maps a folded block scalar (>, >-), or a plain scalar
// that goes on over several lines, to the lines of the file it was read
// from: YAML joins those lines with spaces, so a position in the value is
// found again by aligning each line's text with the value. It returns nil
// for a one-line plain scalar and where the alignment fails.
func (d *decoder) foldedSegments(n *yaml.Node) []segment {
	type textLine struct {
		line, column int
		text         string
	}
	var lines []textLine
	if n.Style&yaml.FoldedStyle != 0 {
		indent := -1
		for l := n.Line + 1; l <= len(d.lines); l++ {
			raw := strings.TrimRight(string(d.lineAt(l)), " \t\r")
			if strings.TrimSpace(raw) == "" {
				continue
			}
			ind := len(raw) - len(strings.TrimLeft(raw, " "))
			if indent < 0 {
				indent = ind
			}
			if ind < indent {
				break
			}
			lines = append(lines, textLine{l, indent + 1, raw[indent:]})
		}
	} else {
		first := string(d.lineAt(n.Line))
		if n.Column < 1 || n.Column > len(first) || !strings.Contains(n.Value, " ") {
			return nil
		}
		head := strings.TrimRight(first[n.Column-1:], " \t\r")
		if len(head) >= len(n.Value) {
			return nil // all on one line: the column arithmetic holds
		}
		lines = append(lines, textLine{n.Line, n.Column, head})
		for l := n.Line + 1; l <= len(d.lines); l++ {
			raw := strings.TrimRight(string(d.lineAt(l)), " \t\r")
			trimmed := strings.TrimLeft(raw, " \t")
			lines = append(lines, textLine{l, len(raw) - len(trimmed) + 1, trimmed})
		}
	}
	var segs []segment
	pos := 0
	for _, ln := range lines {
		if pos >= len(n.Value) {
			break
		}
		if ln.text == "" {
			continue
		}
		i := strings.Index(n.Value[pos:], ln.text)
		if i < 0 || strings.Trim(n.Value[pos:pos+i], " \n") != "" {
			break
		}
		segs = append(segs, segment{offset: pos + i, line: ln.line, column: ln.column})
		pos += i + len(ln.text)
	}
	return segs
}

// lineAt returns the 1-based line of the file, or nil.
func (d *decoder) lineAt(line int) []byte {
	if line < 1 || line > len(d.lines) {
		return nil
	}
	return d.lines[line-1]
}

// indent returns the number of leading spaces of the 1-based line.
func (d *decoder) indent(line int) int {
	l := d.lineAt(line)
	return len(l) - len(bytes.TrimLeft(l, " "))
}

// decode decodes n, found at path and named by key (nil for list items and
// the document), into v.
func (d *decoder) decode(key, n *yaml.Node, path string, v reflect.Value) {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.fail(n, path, "YAML anchors and aliases are not supported; write the value out")
		return
	}
	d.remember(key, n, path)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an empty value leaves the default
	}
	if v.Type() == durationType {
		d.decodeDuration(n, path, v)
		return
	}
	switch v.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "must be a single value, not a %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		d.decodeBool(n, path, v)
	case reflect.Int, reflect.Int64:
		d.decodeInt(n, path, v)
	case reflect.Float64:
		d.decodeFloat(n, path, v)
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "must be a list, such as [a, b], not a %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(nil, item, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		d.decodeMap(n, path, v)
	default:
		d.fail(n, path, "internal error: field of type %s cannot be decoded", v.Type())
	}
}

func (d *decoder) decodeDuration(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "must be a duration such as 10m, not a %s", kindName(n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		if _, nerr := strconv.ParseFloat(n.Value, 64); nerr == nil {
			d.fail(n, path, "duration %q has no unit; write it with one, such as 10m or 90s", n.Value)
			return
		}
		d.fail(n, path, "invalid duration %q; write it such as 10m, 1h30m or 90s", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) decodeBool(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		d.fail(n, path, "must be true or false, not %s", describe(n))
		return
	}
	v.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
}

func (d *decoder) decodeInt(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.fail(n, path, "must be a whole number, not %s", describe(n))
		return
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil || v.OverflowInt(i) {
		d.fail(n, path, "number %q is out of range", n.Value)
		return
	}
	v.SetInt(i)
}

func (d *decoder) decodeFloat(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		d.fail(n, path, "must be a number, not %s", describe(n))
		return
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil {
		d.fail(n, path, "invalid number %q", n.Value)
		return
	}
	v.SetFloat(f)
}

// describe names what a node holds, for messages about a value of the
// wrong type.
func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return strconv.Quote(n.Value)
	}
	return "a " + kindName(n)
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a map of keys (%s), not a %s", strings.Join(structKeys(v.Type()), ", "), kindName(n))
		return
	}
	known := structKeys(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		sub := joinKey(path, key)
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "keys must be plain names")
			continue
		}
		if seen[key] {
			d.fail(k, sub, "key %q is set twice; keep one", key)
			continue
		}
		seen[key] = true
		idx := slices.Index(known, key)
		if idx < 0 {
			msg := fmt.Sprintf("unknown key %q", key)
			if s := suggest.Nearest(strings.ToLower(key), known); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			msg += fmt.Sprintf(" (known: %s)", strings.Join(known, ", "))
			d.fail(k, sub, "%s", msg)
			continue
		}
		d.decode(k, val, sub, fieldByKey(v, key))
	}
}

func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a map of name: value, not a %s", kindName(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "keys must be plain names")
			continue
		}
		sub := joinKey(path, k.Value)
		if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			d.fail(k, sub, "name %q is set twice; keep one", k.Value)
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(k, val, sub, elem)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

// structKeys returns the yaml keys of t's exported fields, in field order.
func structKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && f.Tag.Get("yaml") != "" {
			tag := f.Tag.Get("yaml")
			keys = append(keys, tag)
		}
	}
	return keys
}

func fieldByKey(v reflect.Value, key string) reflect.Value {
	t := v.Type()
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("yaml") == key {
			return v.Field(i)
		}
	}
	panic("config: no field for key " + key) // unreachable: key comes from structKeys
}

// joinKey appends a map key to a path: databases.orders, or
// databases["my db"] when the key is not a plain name.
func joinKey(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	default:
		return path + "." + key
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "map"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	default:
		return "single value"
	}
}
