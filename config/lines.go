package config

import "strings"

// lineIndex remembers where each field path was written. Paths use the
// file's keys: "routers[1].nat[0].external_ip".
type lineIndex struct {
	byPath map[string]int
}

func newLineIndex() *lineIndex { return &lineIndex{byPath: map[string]int{}} }

// lineOf returns the line of path or, for a field that was not written
// (a missing required value), of its nearest written ancestor. 0 if the
// index is nil or nothing matches.
func (x *lineIndex) lineOf(path string) int {
	if x == nil {
		return 0
	}
	for path != "" {
		if l, ok := x.byPath[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// join appends a key or an index to a path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
