package console

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/qs-promoter/qs-promoter/store"
)

// The overview's charts are drawn here as plain numbers (rectangles and
// labels) and written as SVG by the template: no chart library, no script.

// dayChart is executions per day by outcome, as stacked bars.
type dayChart struct {
	Width, Height int
	Bars          []dayBar
	Legend        []string // the outcomes, in stacking order
	Max           int      // the tallest day's count
	Total         int
}

type dayBar struct {
	X     int
	Day   string
	Label string // every few days, under the bar
	Total int
	Parts []barPart
}

type barPart struct {
	Y, H  int
	State string
	Count int
}

// stackOrder puts the outcomes people look for at the bottom.
var stackOrder = []string{"acted", "failed", "no_match", "skipped"}

const (
	dayBarWidth = 18
	dayBarGap   = 6
	chartHeight = 140
)

// newDayChart lays out the counts of the days days up to today (UTC).
func newDayChart(counts []store.DayCount, today time.Time, days int) dayChart {
	byDay := map[string]map[string]int{}
	states := map[string]bool{}
	for _, c := range counts {
		if byDay[c.Day] == nil {
			byDay[c.Day] = map[string]int{}
		}
		byDay[c.Day][c.State] += c.Count
		states[c.State] = true
	}
	legend := slices.Clone(stackOrder)
	var others []string
	for s := range states {
		if !slices.Contains(legend, s) {
			others = append(others, s)
		}
	}
	slices.Sort(others)
	legend = append(legend, others...)
	ch := dayChart{Width: days*(dayBarWidth+dayBarGap) + 20, Height: chartHeight, Legend: legend} // room for the last label
	first := today.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(days - 1))
	for i := range days {
		day := first.AddDate(0, 0, i).Format("2006-01-02")
		bar := dayBar{X: i * (dayBarWidth + dayBarGap), Day: day}
		if i%5 == 0 || i == days-1 {
			bar.Label = day[5:]
		}
		for _, s := range legend {
			bar.Total += byDay[day][s]
		}
		ch.Max = max(ch.Max, bar.Total)
		ch.Total += bar.Total
		ch.Bars = append(ch.Bars, bar)
	}
	if ch.Max == 0 {
		return ch
	}
	for i := range ch.Bars {
		b := &ch.Bars[i]
		y := chartHeight
		for _, s := range legend {
			n := byDay[b.Day][s]
			if n == 0 {
				continue
			}
			h := max(1, n*chartHeight/ch.Max)
			y -= h
			b.Parts = append(b.Parts, barPart{Y: y, H: h, State: s, Count: n})
		}
	}
	return ch
}

// promotionChart is how long promotions to each target site took.
type promotionChart struct {
	Width  int
	Height int
	Bars   []promotionBar
	Steps  int // promote steps read
}

type promotionBar struct {
	Site           string
	Y, W           int
	Median, Max    time.Duration
	Count, Failed  int
	MedianText     string
	MaxText, Label string
}

// promoteStep is what the chart reads of a promote step's audit record.
type promoteStep struct {
	Status   string  `json:"status"`
	Duration float64 `json:"duration_s"`
	Params   struct {
		Targets []struct {
			Site string `json:"site"`
		} `json:"targets"`
	} `json:"params"`
}

// newPromotionChart summarises promote steps per target site: a step that
// promoted to several sites (in parallel) counts for each.
func newPromotionChart(recs []store.AuditRecord) promotionChart {
	per := map[string][]time.Duration{}
	failed := map[string]int{}
	ch := promotionChart{Width: 600}
	for _, r := range recs {
		var s promoteStep
		if json.Unmarshal(r.Record, &s) != nil || s.Status == "planned" {
			continue
		}
		ch.Steps++
		for _, t := range s.Params.Targets {
			per[t.Site] = append(per[t.Site], time.Duration(s.Duration*float64(time.Second)))
			if s.Status == "failed" {
				failed[t.Site]++
			}
		}
	}
	sites := make([]string, 0, len(per))
	for s := range per {
		sites = append(sites, s)
	}
	slices.Sort(sites)
	var longest time.Duration
	for _, s := range sites {
		ds := per[s]
		slices.Sort(ds)
		b := promotionBar{Site: s, Median: ds[len(ds)/2], Max: ds[len(ds)-1], Count: len(ds), Failed: failed[s]}
		longest = max(longest, b.Max)
		ch.Bars = append(ch.Bars, b)
	}
	ch.Height = len(ch.Bars) * 28
	for i := range ch.Bars {
		b := &ch.Bars[i]
		b.Y = i * 28
		if longest > 0 {
			b.W = max(2, int(int64(b.Median)*int64(ch.Width-220)/int64(longest)))
		}
		b.MedianText, b.MaxText = durText(b.Median), durText(b.Max)
		b.Label = fmt.Sprintf("median %s, longest %s, %d promotions", b.MedianText, b.MaxText, b.Count)
		if b.Failed > 0 {
			b.Label += fmt.Sprintf(", %d failed", b.Failed)
		}
	}
	return ch
}
