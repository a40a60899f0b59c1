package gateway

import (
	"errors"
	"strings"

	"github.com/xgw-dev/xgw/config"
)

// ProblemLines flattens joined errors into one line each: how check-config
// prints a bad file and a refused reload logs it.
func ProblemLines(err error) []string {
	var lines []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		// config.Load wraps the joined problems of Parse with the path:
		// look through the wrapping, or only the first would be listed.
		for u := errors.Unwrap(e); u != nil; u = errors.Unwrap(u) {
			if _, ok := u.(interface{ Unwrap() []error }); ok {
				walk(u)
				return
			}
		}
		var fe *config.FieldError
		if errors.As(e, &fe) {
			lines = append(lines, fe.Error())
			return
		}
		lines = append(lines, strings.Split(e.Error(), "\n")...)
	}
	walk(err)
	return lines
}
