package instrument

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// HostTopology builds GitLab's topology object (objects_schemas/
// topology_schema.json) for the single host the collector runs on.
func HostTopology(_ context.Context) map[string]any {
	start := time.Now()
	failures := []any{}
	node := map[string]any{"node_cpus": runtime.NumCPU()}
	if total, avail, ok := meminfo(); ok {
		node["node_memory_total_bytes"] = total
		if total > 0 {
			node["node_memory_utilization"] = roundTo(1-float64(avail)/float64(total), 3)
		}
	} else {
		failures = append(failures, map[string]any{"name": "node_memory", "error": "unavailable"})
	}
	var u syscall.Utsname
	if err := syscall.Uname(&u); err == nil {
		node["node_uname_info"] = map[string]any{
			"machine": cstr(u.Machine[:]), "release": cstr(u.Release[:]), "sysname": cstr(u.Sysname[:]),
		}
	} else {
		failures = append(failures, map[string]any{"name": "node_uname_info", "error": err.Error()})
	}
	node["node_services"] = []any{map[string]any{"name": "serviceping-collector", "process_count": 1}}
	return map[string]any{
		"duration_s": roundTo(time.Since(start).Seconds(), 6),
		"failures":   failures,
		"nodes":      []any{node},
	}
}

func roundTo(f float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(f*p+0.5)) / p
}

func cstr(b []int8) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

func meminfo() (total, avail int64, ok bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "MemTotal:":
			total = v * 1024
		case "MemAvailable:":
			avail = v * 1024
		}
	}
	return total, avail, total > 0
}
