package client

import (
	"fmt"

	"github.com/serviceping/serviceping/pkg/pinggen"
)

// DemoSpecs are the generated pings shipped in testdata/demo: eight
// installations, two consecutive weekly pings each.
func DemoSpecs() []pinggen.Spec {
	var specs []pinggen.Spec
	for inst := range 8 {
		for week := range 2 {
			specs = append(specs, pinggen.Spec{Instance: inst, Week: week})
		}
	}
	return specs
}

// DemoFileName names a demo ping file.
func DemoFileName(s pinggen.Spec) string {
	return fmt.Sprintf("instance-%02d-week-%02d.json.gz", s.Instance, s.Week)
}
