package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Row is one line of the results table: tokenkeeper's figure and the
// baseline's, measured in the same run, and their ratio against a target.
type Row struct {
	// Part is one of Parts.
	Part string
	// Name says what is measured, and how.
	Name string
	// Ours and Base are the formatted figures ("" when there is no baseline).
	Ours, Base string
	// Ratio is the figure compared with Target; NaN when there is none.
	Ratio float64
	// Target is the goal, such as "≥ 0.5" ("" for figures reported only).
	Target string
	// Met says whether the target is met; nil when there is no target.
	Met *bool
	// Note is a short remark (a failure, an assumption).
	Note string
}

// Report is the result of a run.
type Report struct {
	Scale   string
	Machine Machine
	Started time.Time
	Took    time.Duration
	// LoadBefore and LoadAfter are the load averages (/proc/loadavg) at the
	// start and the end: other work on the machine skews every figure.
	LoadBefore, LoadAfter string

	mu   sync.Mutex
	Rows []Row
	// Details are extra lines (breakdowns) printed under the table.
	Details []string
}

func (r *Report) add(row Row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if row.Base == "" {
		row.Ratio = math.NaN() // no baseline, no ratio
	}
	r.Rows = append(r.Rows, row)
}

func (r *Report) detail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Details = append(r.Details, fmt.Sprintf(format, args...))
}

// Markdown returns the machine description, the results table and the
// details, in Markdown.
func (r *Report) Markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "Run: `%s` scale, %s, took %s.\n\n", r.Scale, r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Took.Round(time.Second))
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %s memory, %s %s/%s, GOMAXPROCS %d.\n\n",
		m.CPUs, m.CPUModel, m.Memory, m.GoVersion, runtime.GOOS, runtime.GOARCH, m.GOMAXPROCS)
	if r.LoadBefore != "" {
		fmt.Fprintf(&b, "Load average (1, 5, 15 min) at the start: %s; at the end: %s.\n\n", r.LoadBefore, r.LoadAfter)
	}
	b.WriteString("| part | measure | tokenkeeper | baseline | ratio | target | verdict |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, row := range r.Rows {
		ratio := ""
		if !math.IsNaN(row.Ratio) {
			ratio = fmtRatio(row.Ratio)
		}
		verdict := ""
		switch {
		case row.Met == nil:
		case *row.Met:
			verdict = "met"
		default:
			verdict = "**missed**"
		}
		name := row.Name
		if row.Note != "" {
			name += " — " + row.Note
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", row.Part, cell(name), cell(row.Ours), cell(row.Base), ratio, row.Target, verdict)
	}
	if len(r.Details) > 0 {
		b.WriteString("\n")
		for _, d := range r.Details {
			b.WriteString("- " + d + "\n")
		}
	}
	return b.String()
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func fmtRatio(x float64) string {
	switch {
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 0.1:
		return strconv.FormatFloat(x, 'g', 3, 64) // 0.499 is not 0.50
	}
	return strconv.FormatFloat(x, 'g', 2, 64)
}

// The markers between which WriteDoc puts the results.
const (
	beginMarker = "<!-- bench:results:begin (written by `tokenkeeper bench --out`) -->"
	endMarker   = "<!-- bench:results:end -->"
)

// WriteDoc writes the report's Markdown into the file at path between the
// results markers, keeping the text around them. A file without the
// markers gets them appended; a missing file is created.
func WriteDoc(path string, r *Report) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	section := beginMarker + "\n\n" + r.Markdown() + "\n" + endMarker
	var out []byte
	i, j := bytes.Index(old, []byte(beginMarker)), bytes.Index(old, []byte(endMarker))
	switch {
	case i >= 0 && j > i:
		out = append(append(append([]byte{}, old[:i]...), section...), old[j+len(endMarker):]...)
	case len(old) == 0:
		out = []byte("# Benchmarks\n\n" + section + "\n")
	default:
		out = append(append(bytes.TrimRight(old, "\n"), "\n\n"...), section+"\n"...)
	}
	return os.WriteFile(path, out, 0o644)
}

// Machine describes the computer a run happened on.
type Machine struct {
	CPUs       int
	GOMAXPROCS int
	CPUModel   string
	Memory     string
	GoVersion  string
}

// ReadMachine reads the CPU model and memory from /proc (Linux); elsewhere
// those fields say "unknown".
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), CPUModel: "unknown", Memory: "unknown", GoVersion: runtime.Version()}
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		m.CPUModel = v
	}
	if v := procField("/proc/meminfo", "MemTotal"); v != "" {
		if kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64); err == nil {
			m.Memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return m
}

// LoadAverage returns the 1, 5 and 15 minute load averages from
// /proc/loadavg, "" where there is none.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], ", ")
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// verdict returns a *bool for Row.Met.
func verdict(ok bool) *bool { return &ok }
