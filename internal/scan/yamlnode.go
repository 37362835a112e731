package scan

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// resolve follows aliases (*anchor) to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return resolve(n.Content[0])
	}
	return n
}

// get returns the value of key in the mapping n, following aliases and
// merge keys (<<: *anchor), or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var merged *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		switch k.Value {
		case key:
			return resolve(n.Content[i+1])
		case "<<":
			if merged == nil {
				merged = n.Content[i+1]
			}
		}
	}
	if merged != nil {
		m := resolve(merged)
		if m.Kind == yaml.SequenceNode {
			for _, c := range m.Content {
				if v := get(c, key); v != nil {
					return v
				}
			}
			return nil
		}
		return get(m, key)
	}
	return nil
}

// pairs returns the key and value nodes of the mapping n in order (merge
// keys excluded).
func pairs(n *yaml.Node) [][2]*yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	out := make([][2]*yaml.Node, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "<<" {
			continue
		}
		out = append(out, [2]*yaml.Node{n.Content[i], resolve(n.Content[i+1])})
	}
	return out
}

// items returns the elements of the sequence n.
func items(n *yaml.Node) []*yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = resolve(c)
	}
	return out
}

// scalar returns the value of a scalar node, or "".
func scalar(n *yaml.Node) string {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// truthy reports whether n is the boolean true.
func truthy(n *yaml.Node) bool {
	n = resolve(n)
	return n != nil && n.Kind == yaml.ScalarNode && n.Tag == "!!bool" && strings.EqualFold(n.Value, "true")
}

// strings returns n as a list of strings: a scalar is a list of one.
func stringList(n *yaml.Node) []string {
	n = resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range items(n) {
		if s := scalar(c); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// scriptLines turns a script (a scalar or a sequence of scalars) into its
// lines with their line numbers in the file. A block scalar (| or >)
// starts on the line after its indicator.
func scriptLines(n *yaml.Node) []ScriptLine {
	n = resolve(n)
	if n == nil {
		return nil
	}
	var nodes []*yaml.Node
	if n.Kind == yaml.ScalarNode {
		nodes = []*yaml.Node{n}
	} else {
		nodes = items(n)
	}
	var out []ScriptLine
	for _, c := range nodes {
		if c == nil || c.Kind != yaml.ScalarNode {
			continue // a Bitbucket pipe (- pipe: …) or something else
		}
		first := c.Line
		if c.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			first++
		}
		lines := strings.Split(strings.TrimRight(c.Value, "\n"), "\n")
		if c.Style&yaml.FoldedStyle != 0 {
			lines = []string{strings.Join(lines, " ")}
		}
		// Join shell continuations (a trailing backslash) into one line.
		for i := 0; i < len(lines); i++ {
			text, at := lines[i], first+i
			for strings.HasSuffix(text, "\\") && i+1 < len(lines) {
				i++
				text = strings.TrimSuffix(text, "\\") + " " + strings.TrimSpace(lines[i])
			}
			if strings.TrimSpace(text) != "" {
				out = append(out, ScriptLine{Text: strings.TrimSpace(text), Line: at})
			}
		}
	}
	return out
}

// walkScalars calls fn for every scalar of the tree under n, keys excluded.
func walkScalars(n *yaml.Node, fn func(*yaml.Node)) {
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		fn(n)
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			walkScalars(n.Content[i], fn)
		}
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			walkScalars(c, fn)
		}
	}
}
