package topology_test

import (
	"bufio"
	"context"
	"encoding/xml"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/serviceping/serviceping/deploy/topology"
)

const (
	composeFile    = "../compose/compose.yaml"
	composeEnvFile = "../compose/.env.example"
	dockerfile     = "../Dockerfile"
)

// natsNodes are the compose file's NATS servers, one cluster.
var natsNodes = []string{"nats-1", "nats-2", "nats-3"}

// exampleEnv is .env.example: the secrets the compose file is loaded with.
func exampleEnv(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(composeEnvFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=VALUE", composeEnvFile, line)
		}
		env[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	p, err := topology.LoadCompose(context.Background(), composeFile, exampleEnv(t), true)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// environment is a service's environment as the container gets it.
func environment(s types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	return env
}

// flags are a command's --name=value arguments (a bare --name is "").
func flags(cmd []string) map[string]string {
	f := map[string]string{}
	for _, a := range cmd {
		if k, ok := strings.CutPrefix(a, "--"); ok {
			k, v, _ := strings.Cut(k, "=")
			f[k] = v
		}
	}
	return f
}

func sortedSplit(s, sep string) []string {
	parts := strings.Split(s, sep)
	slices.Sort(parts)
	return parts
}

// TestComposeServices: the whole distributed system is there, every image
// is pinned, every long-running service has a health check and every
// stateful one a named volume.
func TestComposeServices(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	want := append(slices.Clone(natsNodes), "clickhouse-keeper", "clickhouse", "minio", "minio-bucket", "redis", "postgres", "migrate")
	want = append(want, dashboardServices...)
	for _, s := range stages {
		want = append(want, s.name)
	}
	slices.Sort(want)
	if got := p.ServiceNames(); !slices.Equal(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}
	stateful := map[string]string{"clickhouse-keeper": "/var/lib/clickhouse-keeper", "clickhouse": "/var/lib/clickhouse", "minio": "/data", "redis": "/data", "postgres": "/var/lib/postgresql/data"}
	maps.Copy(stateful, dashboardState)
	for _, n := range natsNodes {
		stateful[n] = flags(p.Services[n].Command)["store_dir"]
	}
	for name, s := range p.Services {
		if why := unpinned(s.Image); why != "" {
			t.Errorf("%s: image %q is not pinned: %s", name, s.Image, why)
		}
		oneShot := s.Restart == types.RestartPolicyNo
		if hc := s.HealthCheck; !oneShot && (hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE") {
			t.Errorf("%s: no health check", name)
		}
		if target, ok := stateful[name]; ok {
			i := slices.IndexFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == target })
			if i < 0 || s.Volumes[i].Type != types.VolumeTypeVolume || p.Volumes[s.Volumes[i].Source].Name == "" {
				t.Errorf("%s: %s is not on a named volume: %+v", name, target, s.Volumes)
			}
		}
	}
	bucket := p.Services["minio-bucket"]
	if bucket.Restart != types.RestartPolicyNo || bucket.DependsOn["minio"].Condition != types.ServiceConditionHealthy {
		t.Errorf("minio-bucket: want a one-shot job after minio is healthy: restart %q, depends_on %+v", bucket.Restart, bucket.DependsOn)
	}
}

// TestComposeNATSCluster: three JetStream servers in one cluster, each
// routing to all, and every stage connecting to all of them with streams
// at three replicas.
func TestComposeNATSCluster(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	var routes, clients []string
	for _, n := range natsNodes {
		routes = append(routes, "nats://"+n+":6222")
		clients = append(clients, "nats://"+n+":4222")
	}
	slices.Sort(routes)
	cluster := ""
	for _, n := range natsNodes {
		f := flags(p.Services[n].Command)
		if _, ok := f["jetstream"]; !ok {
			t.Errorf("%s: JetStream is off: %v", n, p.Services[n].Command)
		}
		if f["name"] != n {
			t.Errorf("%s: server name %q", n, f["name"])
		}
		if cluster == "" {
			cluster = f["cluster_name"]
		}
		if f["cluster_name"] == "" || f["cluster_name"] != cluster {
			t.Errorf("%s: cluster name %q, want one name for all (%q)", n, f["cluster_name"], cluster)
		}
		if !strings.HasSuffix(f["cluster"], ":6222") {
			t.Errorf("%s: cluster listener %q, want port 6222", n, f["cluster"])
		}
		if got := sortedSplit(f["routes"], ","); !slices.Equal(got, routes) {
			t.Errorf("%s: routes %v, want %v", n, got, routes)
		}
	}
	for _, s := range stages {
		env := environment(p.Services[s.name])
		if got := env["NATS_URL"]; got != strings.Join(clients, ",") {
			t.Errorf("%s: NATS_URL %q, want every server: %s", s.name, got, strings.Join(clients, ","))
		}
		if got := env["STREAM_REPLICAS"]; got != strconv.Itoa(len(natsNodes)) {
			t.Errorf("%s: STREAM_REPLICAS %q, want %d", s.name, got, len(natsNodes))
		}
		for _, n := range natsNodes {
			if c := p.Services[s.name].DependsOn[n].Condition; c != types.ServiceConditionHealthy {
				t.Errorf("%s: starts before %s is healthy (condition %q)", s.name, n, c)
			}
		}
	}
}

// TestComposeStages: two replicas of each stage, built from this
// repository's Dockerfile as that service, with variables the service
// reads and a configuration it accepts, probed on its real listener and
// route, after what it depends on.
func TestComposeStages(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stages {
		svc := p.Services[s.name]
		if svc.Deploy == nil || svc.Deploy.Replicas == nil || *svc.Deploy.Replicas != 2 {
			t.Errorf("%s: replicas %d, want 2", s.name, svc.GetScale())
		}
		if b := svc.Build; b == nil || b.Context != root || b.Dockerfile != "deploy/Dockerfile" || b.Args["SERVICE"] == nil || *b.Args["SERVICE"] != s.name {
			t.Errorf("%s: build %+v, want deploy/Dockerfile from %s with SERVICE=%s", s.name, b, root, s.name)
		}
		env := environment(svc)
		checkEnv(t, "compose", s, env)
		port := listenPort(t, "compose", s, env)
		hc := svc.HealthCheck
		if hc == nil || len(hc.Test) != 3 || hc.Test[0] != "CMD" || hc.Test[1] != "/usr/local/bin/httpprobe" {
			t.Errorf("%s: health check %v, want [CMD /usr/local/bin/httpprobe URL]", s.name, hc)
			continue
		}
		u, err := url.Parse(hc.Test[2])
		if err != nil || u.Hostname() != "127.0.0.1" || u.Port() != strconv.Itoa(port) || u.Path != s.readiness {
			t.Errorf("%s: health check probes %s, want http://127.0.0.1:%d%s (%s)", s.name, hc.Test[2], port, s.readiness, s.listenVar)
		}
	}
	for _, pc := range p.Services["gateway"].Ports {
		if pc.Target != 8080 {
			t.Errorf("gateway publishes container port %d; the gateway listens on 8080", pc.Target)
		}
	}
	deps := map[string]map[string]string{
		"enricher": {"postgres": types.ServiceConditionHealthy, "redis": types.ServiceConditionHealthy},
		"loader": {
			"clickhouse": types.ServiceConditionHealthy, "minio-bucket": types.ServiceConditionCompletedSuccessfully,
			"migrate": types.ServiceConditionCompletedSuccessfully,
		},
		"migrate": {"clickhouse": types.ServiceConditionHealthy},
	}
	for name, want := range deps {
		for dep, cond := range want {
			if got := p.Services[name].DependsOn[dep].Condition; got != cond {
				t.Errorf("%s: depends on %s with %q, want %q", name, dep, got, cond)
			}
		}
	}
}

// reference is a value that is only a ${VARIABLE…} reference.
var reference = regexp.MustCompile(`^\$\{[A-Z][A-Z0-9_]*(:?[-?][^}]*)?\}$`)

// TestComposeSecrets: no password is written in the compose file. Loaded
// without interpolation, every credential variable and every password in a
// URL is a ${VARIABLE} reference; each required variable is in
// .env.example, and .env, where the real ones go, is ignored by git.
func TestComposeSecrets(t *testing.T) {
	t.Parallel()
	raw, err := topology.LoadCompose(context.Background(), composeFile, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range raw.Services {
		for k, v := range s.Environment {
			if v == nil {
				continue
			}
			if credential.MatchString(k) && !reference.MatchString(*v) {
				t.Errorf("%s: %s is written in the file, want a ${VARIABLE} reference", name, k)
			}
			if pw, ok := userinfoPassword(*v); ok && !reference.MatchString(pw) {
				t.Errorf("%s: %s holds a password written in the file, want a ${VARIABLE} reference", name, k)
			}
		}
	}
	text, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	example := exampleEnv(t)
	required := regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*):\?`).FindAllStringSubmatch(string(text), -1)
	if len(required) == 0 {
		t.Fatal("the compose file requires no variable: where do its secrets come from?")
	}
	for _, m := range required {
		if _, ok := example[m[1]]; !ok {
			t.Errorf("%s is required by the compose file but not in .env.example", m[1])
		}
	}
	ignore, err := os.ReadFile("../compose/.gitignore")
	if err != nil || !slices.Contains(strings.Split(string(ignore), "\n"), ".env") {
		t.Errorf("deploy/compose/.gitignore does not ignore .env (%v)", err)
	}
}

// xmlNode is an element of a ClickHouse configuration file.
type xmlNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []xmlNode  `xml:",any"`
}

// node is the first element at path below n.
func (n xmlNode) node(path ...string) (xmlNode, bool) {
	if len(path) == 0 {
		return n, true
	}
	for _, c := range n.Nodes {
		if c.XMLName.Local == path[0] {
			return c.node(path[1:]...)
		}
	}
	return xmlNode{}, false
}

// at is the text of the first element at path below n ("" when none).
func (n xmlNode) at(path ...string) string {
	c, _ := n.node(path...)
	return strings.TrimSpace(c.Text)
}

// attr is n's attribute called name ("" when none).
func (n xmlNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func readXML(t *testing.T, path string) xmlNode {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var n xmlNode
	if err := xml.Unmarshal(b, &n); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n
}

// TestComposeMigration: `serviceping migrate` runs once, after ClickHouse
// is healthy and before the loaders, on their warehouse and cluster; that
// cluster is ClickHouse's (remote_servers), with the macros the
// replicated tables' Keeper paths use and the Keeper of the compose file.
func TestComposeMigration(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	m, loader := p.Services["migrate"], p.Services["loader"]
	if m.Restart != types.RestartPolicyNo {
		t.Errorf("migrate: restart %q, want a one-shot job", m.Restart)
	}
	if b := m.Build; b == nil || b.Args["SERVICE"] == nil || *b.Args["SERVICE"] != "serviceping" {
		t.Errorf("migrate: build %+v, want the serviceping image", b)
	}
	loaderEnv := environment(loader)
	checkMigration(t, "compose", m.Command, environment(m), loaderEnv)

	cluster := loaderEnv["CLICKHOUSE_CLUSTER"]
	if cluster == "" {
		t.Fatal("the loaders run without CLICKHOUSE_CLUSTER, on a ClickHouse with Keeper")
	}
	ch := p.Services["clickhouse"]
	if !slices.ContainsFunc(ch.Volumes, func(v types.ServiceVolumeConfig) bool {
		return strings.HasSuffix(v.Source, "clickhouse/cluster.xml") && strings.HasPrefix(v.Target, "/etc/clickhouse-server/config.d/")
	}) {
		t.Errorf("clickhouse does not mount clickhouse/cluster.xml into config.d: %+v", ch.Volumes)
	}
	cfg, keeper := readXML(t, "../compose/clickhouse/cluster.xml"), readXML(t, "../compose/clickhouse/keeper.xml")
	if host := cfg.at("remote_servers", cluster, "shard", "replica", "host"); p.Services[host].Name == "" {
		t.Errorf("cluster.xml: cluster %q's replica is %q, not a service of the compose file", cluster, host)
	}
	secret, _ := cfg.node("remote_servers", cluster, "secret")
	secretVar := secret.attr("from_env")
	if secretVar == "" || environment(ch)[secretVar] == "" {
		t.Errorf("cluster.xml: the cluster's interserver secret comes from %q, which clickhouse's environment does not set", secretVar)
	}
	for _, macro := range []string{"shard", "replica"} {
		if cfg.at("macros", macro) == "" {
			t.Errorf("cluster.xml: no macro {%s}, which the replicated tables' Keeper paths use", macro)
		}
	}
	if host, port := cfg.at("zookeeper", "node", "host"), cfg.at("zookeeper", "node", "port"); p.Services[host].Name == "" || port != keeper.at("keeper_server", "tcp_port") {
		t.Errorf("cluster.xml: Keeper at %s:%s, want the clickhouse-keeper service on keeper.xml's port %s", host, port, keeper.at("keeper_server", "tcp_port"))
	}
}
