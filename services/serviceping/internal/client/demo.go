package client

import (
	"fmt"

	"github.com/serviceping/serviceping/pkg/pinggen"
)

// DemoWeeks is how many consecutive weekly pings each demo installation
// sends: the first is an instance's first ping, the second is scored
// before any DevOps Score leaders exist, the third against leaders.
const DemoWeeks = 3

// DemoSpecs are the generated pings shipped in testdata/demo: eight
// installations, DemoWeeks consecutive weekly pings each.
func DemoSpecs() []pinggen.Spec {
	var specs []pinggen.Spec
	for inst := range 8 {
		for week := range DemoWeeks {
			specs = append(specs, pinggen.Spec{Instance: inst, Week: week})
		}
	}
	return specs
}

// DemoFileName names a demo ping file.
func DemoFileName(s pinggen.Spec) string {
	return fmt.Sprintf("instance-%02d-week-%02d.json.gz", s.Instance, s.Week)
}
