package config

import (
	"errors"
	"fmt"
)

// FieldError is one problem with one field of the file. Path is the field's
// path in the document ("routers[1].nat[0].external_ip"); Line is where it
// (or, if it is missing, its nearest written parent) is in the file, 0 when
// the Config did not come from a file.
type FieldError struct {
	Path string
	Line int
	Msg  string
}

func (e *FieldError) Error() string {
	s := e.Msg
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	if e.Line > 0 {
		s += fmt.Sprintf(" (line %d)", e.Line)
	}
	return s
}

// problems collects FieldErrors so that a user fixing a file sees all of
// them at once rather than one per run.
type problems struct {
	lines *lineIndex
	errs  []error
}

// add records a problem at path; the line is looked up from the index.
func (p *problems) add(path, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{Path: path, Line: p.lines.lineOf(path), Msg: fmt.Sprintf(format, args...)})
}

// check records err (from a value's Parse) at path, if not nil.
func (p *problems) check(path string, err error) {
	if err != nil {
		p.add(path, "%s", err.Error())
	}
}

func (p *problems) err() error { return errors.Join(p.errs...) }
