package report

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// PlotRates draws, for each scenario whose primary metric is a packet
// rate, one group of bars (one bar per system), in millions per second.
func PlotRates(r *Run, path string) error {
	var scs []string
	for _, sc := range r.ScenarioNames() {
		if k := Scenarios[sc].Primary; k == PPS || k == RRPPS {
			scs = append(scs, sc)
		}
	}
	if len(scs) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Delivered packet rate per system (commit %s)", r.Commit)
	p.Y.Label.Text = "Mpps"
	systems := r.SystemNames()
	w := vg.Points(float64(60) / float64(len(systems)+1))
	for i, sys := range systems {
		vals := make(plotter.Values, len(scs))
		for j, sc := range scs {
			if res := r.Lookup(sc, sys); res != nil && res.Status == "ok" {
				vals[j] = res.Metrics[Scenarios[sc].Primary] / 1e6
			}
		}
		bc, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		bc.Offset = vg.Length(float64(i)-float64(len(systems)-1)/2) * w
		bc.Color = plotutil.Color(i)
		bc.LineStyle.Width = 0
		p.Add(bc)
		p.Legend.Add(sys, bc)
	}
	p.Legend.Top = true
	p.NominalX(scs...)
	return p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}

// PlotCPU draws, for scenario, one stacked bar per system: the gateway's
// processes, softirq on all CPUs and the generator, in cores.
func PlotCPU(r *Run, scenario, path string) error {
	var systems []string
	for _, sys := range r.SystemNames() {
		if res := r.Lookup(scenario, sys); res != nil && res.Status == "ok" {
			systems = append(systems, sys)
		}
	}
	if len(systems) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("CPU during %s (cores; the machine has %d)", scenario, r.Host.CPUs)
	p.Y.Label.Text = "cores"
	parts := []struct {
		key, label string
		c          color.Color
	}{
		{GWCores, "gateway processes", plotutil.Color(0)},
		{SoftIRQCores, "softirq (all CPUs)", plotutil.Color(1)},
		{GenCores, "generator", plotutil.Color(2)},
	}
	var below *plotter.BarChart
	for _, part := range parts {
		vals := make(plotter.Values, len(systems))
		for i, sys := range systems {
			vals[i] = r.Lookup(scenario, sys).Metrics[part.key]
		}
		bc, err := plotter.NewBarChart(vals, vg.Points(30))
		if err != nil {
			return err
		}
		bc.Color = part.c
		bc.LineStyle.Width = 0
		if below != nil {
			bc.StackOn(below)
		}
		below = bc
		p.Add(bc)
		p.Legend.Add(part.label, bc)
	}
	p.Legend.Top = true
	p.NominalX(systems...)
	return p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}
