package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/template"
	"time"
)

// report is the table of one run.
type report struct {
	rows    []row
	quick   bool
	started time.Time
	took    time.Duration
	command string
	load    string // load averages at the start and the end
	commit  string
}

func (r report) failed() bool {
	for _, x := range r.rows {
		if x.skipped == "" && x.fails {
			return true
		}
	}
	return false
}

// table renders the rows as a markdown table.
func (r report) table() string {
	var b strings.Builder
	b.WriteString("| figure | measured | anchor, same run | ratio | target | status |\n")
	b.WriteString("|---|---|---|---:|---|---|\n")
	for _, x := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | **%s** | %s | %s |\n", x.name, dash(x.subject), dash(x.anchor), x.ratioText(), x.target, x.status())
	}
	return b.String()
}

func (r report) notes() string {
	var b strings.Builder
	for _, x := range r.rows {
		if x.note != "" {
			fmt.Fprintf(&b, "- %s: %s\n", x.name, x.note)
		}
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func (r report) print(w io.Writer) {
	mode := "full run"
	if r.quick {
		mode = "quick run: fails only when a ratio misses its target by more than its margin"
	}
	fmt.Fprintf(w, "\n%s — %s\n%s\nCommit %s; load average at the start and the end: %s\n\n", r.command, mode, machine(), r.commit, r.load)
	fmt.Fprint(w, r.table())
	if n := r.notes(); n != "" {
		fmt.Fprint(w, "\n"+n)
	}
	fmt.Fprintf(w, "\n%d figures in %s\n", len(r.rows), r.took.Round(time.Second))
}

//go:embed benchmarks.md.tmpl
var docTemplate string

// writeDoc writes the report into the markdown template.
func (r report) writeDoc(name string) error {
	t, err := template.New("doc").Parse(docTemplate)
	if err != nil {
		return err
	}
	var b strings.Builder
	err = t.Execute(&b, map[string]string{
		"Command": r.command,
		"Date":    r.started.UTC().Format("2006-01-02 15:04 MST"),
		"Took":    r.took.Round(time.Second).String(),
		"Machine": machine(),
		"Load":    r.load,
		"Commit":  r.commit,
		"Table":   r.table(),
		"Notes":   r.notes(),
	})
	if err != nil {
		return err
	}
	return os.WriteFile(name, []byte(b.String()), 0o644)
}

// loadAverage returns the 1-minute load average, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// gitCommit returns the checkout's commit, marked when the tree has
// changes, or "unknown".
func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += " with uncommitted changes"
	}
	return c
}

// machine describes the machine: CPU model, cores, memory, OS and Go.
func machine() string {
	cpu := firstField("/proc/cpuinfo", "model name")
	mem := firstField("/proc/meminfo", "MemTotal")
	osName := strings.Trim(firstField("/etc/os-release", "PRETTY_NAME"), `"`)
	parts := []string{}
	if cpu != "" {
		parts = append(parts, cpu)
	}
	parts = append(parts, fmt.Sprintf("%d cores", runtime.NumCPU()))
	if mem != "" {
		var kb int64
		fmt.Sscanf(mem, "%d", &kb)
		parts = append(parts, fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20)))
	}
	if osName != "" {
		parts = append(parts, osName)
	}
	parts = append(parts, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH)
	return "Machine: " + strings.Join(parts, ", ")
}

// firstField returns the value of the first "key: value" or "key=value"
// line of a file, or "".
func firstField(name, key string) string {
	f, err := os.Open(name)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, key) {
			continue
		}
		rest := strings.TrimSpace(line[len(key):])
		rest = strings.TrimPrefix(strings.TrimPrefix(rest, ":"), "=")
		return strings.TrimSpace(rest)
	}
	return ""
}
