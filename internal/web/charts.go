package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// chart is a stacked bar chart of refresh attempts per time bucket, by
// class, with the success rate drawn over it as a line; the template
// charts.html draws it as inline SVG. Coordinates are in viewBox units.
type chart struct {
	Label         string // accessible description
	Width, Height float64
	Left, Top     float64 // the plot area
	PlotW, PlotH  float64
	Right, Bottom float64 // Left+PlotW, Top+PlotH
	Bars          []bar
	CountTicks    []tick // left axis
	RateTicks     []tick // right axis
	XLabels       []xLabel
	RateLines     []string // polyline point lists; a gap where a bucket had no attempts
	Total         int
	Rate          float64 // success rate over the whole chart, NaN without attempts
}

type bar struct {
	X, W  float64
	Title string
	Segs  []seg
}

type seg struct {
	X, Y, W, H float64
	Class      tokenkeeper.Class
}

type tick struct {
	Y     float64
	Label string
}

type xLabel struct {
	X     float64
	Label string
}

// chartClasses is the stacking order, bottom up.
var chartClasses = []tokenkeeper.Class{tokenkeeper.ClassSuccess, tokenkeeper.ClassTransient, tokenkeeper.ClassPermanent, tokenkeeper.ClassRevoked, tokenkeeper.ClassConfig}

// buildChart draws n buckets of width step starting at start from one
// provider's counts. labelEvery puts an x label on every that many buckets,
// formatted by format.
func buildChart(label string, counts []tokenkeeper.AttemptCount, start time.Time, step time.Duration, n, labelEvery int, format func(time.Time) string) chart {
	c := chart{Label: label, Width: 560, Height: 170, Left: 34, Top: 8}
	c.PlotW, c.PlotH = c.Width-c.Left-40, c.Height-c.Top-24
	c.Right, c.Bottom = c.Left+c.PlotW, c.Top+c.PlotH
	per := make([]map[tokenkeeper.Class]int, n)
	totals := make([]int, n)
	for i := range per {
		per[i] = map[tokenkeeper.Class]int{}
	}
	success := 0
	for _, ac := range counts {
		i := int(ac.Bucket.Sub(start) / step)
		if i < 0 || i >= n {
			continue
		}
		per[i][ac.Class] += ac.Count
		totals[i] += ac.Count
		c.Total += ac.Count
		if ac.Class == tokenkeeper.ClassSuccess {
			success += ac.Count
		}
	}
	c.Rate = math.NaN()
	if c.Total > 0 {
		c.Rate = float64(success) / float64(c.Total)
	}
	top := niceMax(maxOf(totals))
	for _, f := range []float64{0, 0.5, 1} {
		y := c.Top + c.PlotH*(1-f)
		c.CountTicks = append(c.CountTicks, tick{Y: y, Label: strconv.Itoa(int(math.Round(f * float64(top))))})
		c.RateTicks = append(c.RateTicks, tick{Y: y, Label: strconv.Itoa(int(f*100)) + "%"})
	}
	slot := c.PlotW / float64(n)
	var line []string
	flush := func() {
		if len(line) > 0 {
			c.RateLines = append(c.RateLines, strings.Join(line, " "))
			line = nil
		}
	}
	for i := range n {
		b := bar{X: c.Left + float64(i)*slot + slot*0.15, W: slot * 0.7}
		at := start.Add(time.Duration(i) * step)
		b.Title = fmt.Sprintf("%s: %d attempts", format(at), totals[i])
		y := c.Top + c.PlotH
		for _, class := range chartClasses {
			k := per[i][class]
			if k == 0 {
				continue
			}
			h := c.PlotH * float64(k) / float64(top)
			y -= h
			b.Segs = append(b.Segs, seg{X: b.X, Y: y, W: b.W, H: h, Class: class})
			b.Title += fmt.Sprintf(", %d %s", k, class)
		}
		c.Bars = append(c.Bars, b)
		if totals[i] == 0 {
			flush()
		} else {
			r := float64(per[i][tokenkeeper.ClassSuccess]) / float64(totals[i])
			line = append(line, fmt.Sprintf("%.1f,%.1f", b.X+b.W/2, c.Top+c.PlotH*(1-r)))
		}
		if i%labelEvery == 0 {
			c.XLabels = append(c.XLabels, xLabel{X: b.X + b.W/2, Label: format(at)})
		}
	}
	flush()
	return c
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// niceMax rounds n up to 2, 4, 6, 8 or 10 times a power of ten (at least
// 4), so that the middle tick is a whole number.
func niceMax(n int) int {
	if n <= 4 {
		return 4
	}
	p := 1
	for p*10 <= n {
		p *= 10
	}
	for _, m := range []int{2, 4, 6, 8, 10} {
		if m*p >= n {
			return m * p
		}
	}
	return 10 * p
}

// forProvider returns the counts of one provider.
func forProvider(counts []tokenkeeper.AttemptCount, provider string) []tokenkeeper.AttemptCount {
	var out []tokenkeeper.AttemptCount
	for _, c := range counts {
		if c.Provider == provider {
			out = append(out, c)
		}
	}
	return out
}
