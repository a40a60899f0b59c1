package lab

import (
	"context"
	"regexp"
	"sort"
	"strings"
)

var (
	lflowUUID = regexp.MustCompile(` ?\([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\)`)
	lflowWS   = regexp.MustCompile(`\s+`)
)

// LogicalFlows returns northd's logical flows (ovn-sbctl lflow-list),
// normalised so that two runs compare: datapath UUIDs dropped, padding
// collapsed, flows sorted within each datapath pipeline and pipelines
// sorted by name. What hypervisors compute their OpenFlow from.
func (o *OVN) LogicalFlows(ctx context.Context) (string, error) {
	out, err := o.SBCtl(ctx, "lflow-list")
	if err != nil {
		return "", err
	}
	return NormaliseLflows(out), nil
}

// NormaliseLflows is LogicalFlows' normalisation of lflow-list output.
func NormaliseLflows(out string) string {
	blocks := map[string][]string{}
	var cur string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(lflowWS.ReplaceAllString(line, " "))
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "Datapath:") {
			cur = lflowUUID.ReplaceAllString(line, "")
			if _, ok := blocks[cur]; !ok {
				blocks[cur] = nil
			}
			continue
		}
		line = strings.ReplaceAll(line, "( ", "(")
		line = strings.ReplaceAll(line, " )", ")")
		blocks[cur] = append(blocks[cur], line)
	}
	var keys []string
	for k := range blocks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "\n")
		fl := blocks[k]
		sort.Strings(fl)
		for _, f := range fl {
			b.WriteString("  " + f + "\n")
		}
	}
	return b.String()
}

// DiffLines returns the lines only in a and only in b (for a test's
// failure message), at most max of each.
func DiffLines(a, b string, max int) (onlyA, onlyB []string) {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	ca, cb := count(a), count(b)
	for l, n := range ca {
		if cb[l] < n && len(onlyA) < max {
			onlyA = append(onlyA, l)
		}
	}
	for l, n := range cb {
		if ca[l] < n && len(onlyB) < max {
			onlyB = append(onlyB, l)
		}
	}
	sort.Strings(onlyA)
	sort.Strings(onlyB)
	return
}
