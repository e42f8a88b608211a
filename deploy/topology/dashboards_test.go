package topology_test

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"

	"github.com/serviceping/serviceping/deploy/topology"
)

// dashboardServices are the compose file's dashboards: Prometheus, Grafana
// (deploy/grafana) and Superset (deploy/superset); dashboardState is where
// each keeps its state.
var (
	dashboardServices = []string{"prometheus", "grafana", "superset"}
	dashboardState    = map[string]string{"prometheus": "/prometheus", "grafana": "/var/lib/grafana", "superset": "/var/lib/superset/data"}
)

// TestComposeDashboards: Grafana and Superset run with this repository's
// provisioning and read the warehouse as its read-only user, Prometheus
// scrapes every stage where it serves /metrics, and every dashboard port
// is published on loopback only.
func TestComposeDashboards(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	for _, name := range dashboardServices {
		for _, pc := range p.Services[name].Ports {
			if pc.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %d published on %q, want 127.0.0.1 only", name, pc.Target, pc.HostIP)
			}
		}
	}
	mounts := func(name string) map[string]string {
		out := map[string]string{}
		for _, v := range p.Services[name].Volumes {
			out[v.Target] = v.Source
		}
		return out
	}
	abs := func(rel string) string {
		a, err := filepath.Abs(rel)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	t.Run("clickhouse read-only user", func(t *testing.T) {
		ch := p.Services["clickhouse"]
		if got := mounts("clickhouse")["/etc/clickhouse-server/users.d/dashboards-user.xml"]; got != abs("../compose/clickhouse/dashboards-user.xml") {
			t.Fatalf("clickhouse: users.d/dashboards-user.xml mounted from %q", got)
		}
		users := readXML(t, "../compose/clickhouse/dashboards-user.xml")
		var user, grants xmlNode
		for _, n := range users.Nodes {
			if n.XMLName.Local == "users" {
				for _, u := range n.Nodes {
					if u.XMLName.Local == "dashboards" {
						user = u
					}
				}
			}
		}
		var fromEnv string
		for _, n := range user.Nodes {
			switch n.XMLName.Local {
			case "password":
				for _, a := range n.Attrs {
					if a.Name.Local == "from_env" {
						fromEnv = a.Value
					}
				}
			case "grants":
				grants = n
			}
		}
		if fromEnv == "" || environment(ch)[fromEnv] == "" {
			t.Errorf("user dashboards: password from_env %q, which the clickhouse service does not set", fromEnv)
		}
		if profile := user.at("profile"); users.at("profiles", profile, "readonly") == "" || users.at("profiles", profile, "readonly") == "0" {
			t.Errorf("user dashboards: profile %q is not read-only", profile)
		}
		if len(grants.Nodes) == 0 {
			t.Error("user dashboards: no grants")
		}
		for _, g := range grants.Nodes {
			if q := strings.TrimSpace(g.Text); !strings.HasPrefix(q, "GRANT SELECT ON ") {
				t.Errorf("user dashboards: grant %q, want SELECT only", q)
			}
		}
	})

	t.Run("grafana", func(t *testing.T) {
		g := p.Services["grafana"]
		env := environment(g)
		plugin, version, ok := strings.Cut(env["GF_PLUGINS_PREINSTALL_SYNC"], "@")
		if plugin != "grafana-clickhouse-datasource" || !ok || !versionTag.MatchString(version) {
			t.Errorf("grafana: GF_PLUGINS_PREINSTALL_SYNC %q, want grafana-clickhouse-datasource@<version>", env["GF_PLUGINS_PREINSTALL_SYNC"])
		}
		m := mounts("grafana")
		if m["/etc/grafana/provisioning"] != abs("../grafana/provisioning") {
			t.Errorf("grafana: /etc/grafana/provisioning from %q, want deploy/grafana/provisioning", m["/etc/grafana/provisioning"])
		}
		var provider struct {
			Providers []struct {
				Options struct {
					Path string `json:"path"`
				} `json:"options"`
			} `json:"providers"`
		}
		readYAML(t, "../grafana/provisioning/dashboards/serviceping.yaml", &provider)
		if len(provider.Providers) != 1 || m[provider.Providers[0].Options.Path] != abs("../grafana/dashboards") {
			t.Errorf("grafana: the dashboard provider reads %+v, where deploy/grafana/dashboards is not mounted (%v)", provider, m)
		}
		// Every $VARIABLE of the data sources is set in Grafana's environment.
		raw, err := os.ReadFile("../grafana/provisioning/datasources/serviceping.yaml")
		if err != nil {
			t.Fatal(err)
		}
		vars := regexp.MustCompile(`\$([A-Z][A-Z0-9_]*)`).FindAllStringSubmatch(string(raw), -1)
		if len(vars) == 0 {
			t.Fatal("the data sources read no variable: where do host and password come from?")
		}
		for _, v := range vars {
			if env[v[1]] == "" {
				t.Errorf("grafana: data sources read $%s, which the grafana service does not set", v[1])
			}
		}
		if env["CLICKHOUSE_HOST"] != "clickhouse" || env["CLICKHOUSE_HTTP_PORT"] != "8123" || env["CLICKHOUSE_USER"] != "dashboards" {
			t.Errorf("grafana: warehouse %s:%s as %s, want clickhouse:8123 as the read-only dashboards user", env["CLICKHOUSE_HOST"], env["CLICKHOUSE_HTTP_PORT"], env["CLICKHOUSE_USER"])
		}
		if u, err := url.Parse(env["PROMETHEUS_URL"]); err != nil || p.Services[u.Hostname()].Name != "prometheus" {
			t.Errorf("grafana: PROMETHEUS_URL %q is not the prometheus service", env["PROMETHEUS_URL"])
		}
	})

	t.Run("prometheus scrapes every stage", func(t *testing.T) {
		if got := mounts("prometheus")["/etc/prometheus/prometheus.yml"]; got != abs("../compose/prometheus/prometheus.yml") {
			t.Fatalf("prometheus: config mounted from %q", got)
		}
		var cfg struct {
			ScrapeConfigs []scrapeConfig `json:"scrape_configs"`
		}
		readYAML(t, "../compose/prometheus/prometheus.yml", &cfg)
		for _, s := range stages {
			port := listenPort(t, "compose", s, environment(p.Services[s.name]))
			i := slices.IndexFunc(cfg.ScrapeConfigs, func(c scrapeConfig) bool {
				return len(c.DNS) == 1 && slices.Equal(c.DNS[0].Names, []string{s.name}) && c.DNS[0].Type == "A" && c.DNS[0].Port == port
			})
			if i < 0 {
				t.Errorf("prometheus.yml: no job finding every %s replica (dns_sd A %s, port %d of %s): %+v", s.name, s.name, port, s.listenVar, cfg.ScrapeConfigs)
			}
		}
	})

	t.Run("superset", func(t *testing.T) {
		s := p.Services["superset"]
		if b := s.Build; b == nil || b.Context != abs("../superset") {
			t.Fatalf("superset: build %+v, want deploy/superset", b)
		}
		d, err := topology.ParseDockerfile("../superset/Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		final := d.Stages[len(d.Stages)-1]
		if why := unpinned(final.From); why != "" {
			t.Errorf("deploy/superset/Dockerfile: FROM %s: %s", final.From, why)
		}
		entry, user, expose := topology.Last(final.Instructions, "ENTRYPOINT"), topology.Last(final.Instructions, "USER"), topology.Last(final.Instructions, "EXPOSE")
		if !strings.Contains(entry, "deploy/superset/superset.sh") || user == "" || user == "root" || user == "0" {
			t.Errorf("deploy/superset/Dockerfile: ENTRYPOINT %s as USER %q, want superset.sh (what make superset runs) unprivileged", entry, user)
		}
		for _, pc := range s.Ports {
			if strconv.Itoa(int(pc.Target)) != expose {
				t.Errorf("superset: publishes container port %d, the image listens on %s", pc.Target, expose)
			}
		}
		env := environment(s)
		u, err := url.Parse(strings.ReplaceAll(env["CLICKHOUSE_URL"], " ", "%20"))
		if err != nil || u.User.Username() != "dashboards" || u.Hostname() != "clickhouse" || u.Port() != "8123" {
			t.Errorf("superset: CLICKHOUSE_URL %q, want the read-only dashboards user on clickhouse:8123 (%v)", env["CLICKHOUSE_URL"], err)
		}
		if env["SUPERSET_ADMIN_PASSWORD"] == "" || env["SUPERSET_ADMIN_PASSWORD"] == "admin" {
			t.Error("superset: SUPERSET_ADMIN_PASSWORD unset or the default, which superset.sh refuses beyond loopback")
		}
		if dep := s.DependsOn["clickhouse"].Condition; dep != types.ServiceConditionHealthy {
			t.Errorf("superset: starts before clickhouse is healthy (%q)", dep)
		}
	})
}

// scrapeConfig is a job of prometheus.yml found by DNS service discovery.
type scrapeConfig struct {
	Job string `json:"job_name"`
	DNS []struct {
		Names []string `json:"names"`
		Type  string   `json:"type"`
		Port  int      `json:"port"`
	} `json:"dns_sd_configs"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
