package topology_test

import (
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/serviceping/serviceping/deploy/topology"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

// kustomizations are the base and the example overlay, each rendered and
// checked whole.
var kustomizations = []struct{ name, dir, namespace string }{
	{"base", "../kubernetes/base", ""},
	{"example overlay", "../kubernetes/overlays/example", "serviceping"},
}

// secretsName is the Secret the manifests reference and never create.
const secretsName = "serviceping-secrets"

// sampleSecrets stand for the keys of serviceping-secrets, shaped as
// deploy/kubernetes/README.md says to create them.
var sampleSecrets = map[string]string{
	"directory-url":        "postgres://serviceping:sample@postgres.example:5432/directory?sslmode=verify-full",
	"redis-url":            "rediss://:sample@redis.example:6379/0",
	"clickhouse-url":       "clickhouse://serviceping:sample@clickhouse.example:9440/serviceping?secure=true",
	"s3-access-key-id":     "sample",
	"s3-secret-access-key": "sample",
}

// manifests are the objects of one rendered kustomization by kind and
// name, decoded strictly into the Kubernetes API types (an unknown field
// fails).
type manifests struct {
	deployments  map[string]appsv1.Deployment
	statefulSets map[string]appsv1.StatefulSet
	jobs         map[string]batchv1.Job
	services     map[string]corev1.Service
	configMaps   map[string]corev1.ConfigMap
	secrets      map[string]corev1.Secret
	namespaces   map[string]corev1.Namespace
	pdbs         map[string]policyv1.PodDisruptionBudget
	hpas         map[string]autoscalingv2.HorizontalPodAutoscaler
	objects      []topology.Object
}

// decoder makes *into an empty map of kind T's objects by name and returns
// the function that decodes an object strictly into it.
func decoder[T any](into *map[string]T) func(*testing.T, topology.Object) {
	*into = map[string]T{}
	return func(t *testing.T, o topology.Object) {
		t.Helper()
		var v T
		if err := yaml.UnmarshalStrict(o.YAML, &v); err != nil {
			t.Errorf("%s %s: %v", o.Kind, o.Name, err)
		}
		(*into)[o.Name] = v
	}
}

func render(t *testing.T, dir string) manifests {
	t.Helper()
	objs, err := topology.Kustomize(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := manifests{objects: objs}
	decoders := map[string]func(*testing.T, topology.Object){
		"Deployment": decoder(&m.deployments), "StatefulSet": decoder(&m.statefulSets), "Job": decoder(&m.jobs),
		"Service": decoder(&m.services), "ConfigMap": decoder(&m.configMaps), "Secret": decoder(&m.secrets),
		"Namespace": decoder(&m.namespaces), "PodDisruptionBudget": decoder(&m.pdbs),
		"HorizontalPodAutoscaler": decoder(&m.hpas),
	}
	for _, o := range objs {
		decode, ok := decoders[o.Kind]
		if !ok {
			t.Errorf("%s %s: a kind the tests do not check", o.Kind, o.Name)
			continue
		}
		decode(t, o)
	}
	return m
}

// container is the container called name in spec.
func container(t *testing.T, where string, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	i := slices.IndexFunc(spec.Containers, func(c corev1.Container) bool { return c.Name == name })
	if i < 0 {
		t.Fatalf("%s: no container %s", where, name)
	}
	return spec.Containers[i]
}

// hardened reports whether c runs in spec as a non-root user, on a
// read-only root file system, without privilege escalation.
func hardened(spec corev1.PodSpec, c corev1.Container) bool {
	sc, psc := c.SecurityContext, spec.SecurityContext
	return psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot && sc != nil &&
		sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem &&
		sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
}

// deref shows a replica count that may be unset.
func deref(n *int32) string {
	if n == nil {
		return "unset"
	}
	return strconv.Itoa(int(*n))
}

// portNumber resolves a probe's port (a number or a container port's
// name).
func portNumber(c corev1.Container, p intstr.IntOrString) int {
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return -1
}

// podEnv is the environment c gets in spec: its ConfigMaps (which must be
// rendered), its literal values, the sample secrets for its secretKeyRefs,
// and a test certificate for a file of a mounted TLS Secret.
func podEnv(t *testing.T, where string, m manifests, spec corev1.PodSpec, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Errorf("%s: envFrom %+v: want ConfigMaps only (secrets one key at a time)", where, ef)
			continue
		}
		cm, ok := m.configMaps[ef.ConfigMapRef.Name]
		if !ok {
			t.Errorf("%s: ConfigMap %s is not rendered", where, ef.ConfigMapRef.Name)
		}
		maps.Copy(env, cm.Data)
	}
	secretMounts := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		for _, v := range spec.Volumes {
			if v.Name == vm.Name && v.Secret != nil {
				secretMounts[vm.MountPath] = true
			}
		}
	}
	var cert testinfra.Cert
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil && secretMounts[path.Dir(e.Value)]:
			if cert.CertFile == "" {
				cert = testinfra.SelfSignedCert(t, "version.gitlab.com")
			}
			switch path.Base(e.Value) {
			case corev1.TLSCertKey:
				env[e.Name] = cert.CertFile
			case corev1.TLSPrivateKeyKey:
				env[e.Name] = cert.KeyFile
			default:
				t.Errorf("%s: %s=%s: a file a TLS Secret does not hold", where, e.Name, e.Value)
			}
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := sampleSecrets[ref.Key]
			if ref.Name != secretsName || !ok {
				t.Errorf("%s: %s from Secret %s key %s, want one of %s's documented keys", where, e.Name, ref.Name, ref.Key, secretsName)
			}
			env[e.Name] = v
		case e.ValueFrom.ResourceFieldRef != nil:
			env[e.Name] = "1073741824" // a memory limit in bytes
		default:
			t.Errorf("%s: %s: a value source the tests do not know", where, e.Name)
		}
	}
	return env
}

// TestKubernetesNATS: a StatefulSet of three JetStream servers in one
// cluster, routed through the headless Service's stable names, its store
// on a volume claim, probed on the monitoring port; the stages connect to
// every server and keep streams at three replicas.
func TestKubernetesNATS(t *testing.T) {
	t.Parallel()
	for _, k := range kustomizations {
		m := render(t, k.dir)
		sts, ok := m.statefulSets["nats"]
		if !ok {
			t.Fatalf("%s: no StatefulSet nats", k.name)
		}
		n := 0
		if sts.Spec.Replicas != nil {
			n = int(*sts.Spec.Replicas)
		}
		if n != 3 {
			t.Errorf("%s: NATS replicas %d, want 3", k.name, n)
		}
		svc := m.services[sts.Spec.ServiceName]
		if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
			t.Errorf("%s: Service %q of the StatefulSet: clusterIP %q, publishNotReadyAddresses %v; want headless, publishing unready pods", k.name, sts.Spec.ServiceName, svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses)
		}
		var routes, clients []string
		for i := range n {
			host := sts.Name + "-" + strconv.Itoa(i) + "." + sts.Spec.ServiceName
			routes = append(routes, "nats://"+host+":6222")
			clients = append(clients, "nats://"+host+":4222")
		}
		slices.Sort(routes)
		c := container(t, k.name, sts.Spec.Template.Spec, "nats")
		f := flags(c.Args)
		if _, ok := f["jetstream"]; !ok || f["cluster_name"] == "" {
			t.Errorf("%s: NATS args %v: want --jetstream and a --cluster_name", k.name, c.Args)
		}
		if got := sortedSplit(f["routes"], ","); !slices.Equal(got, routes) {
			t.Errorf("%s: routes %v, want %v", k.name, got, routes)
		}
		claims := map[string]bool{}
		for _, pvc := range sts.Spec.VolumeClaimTemplates {
			claims[pvc.Name] = true
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.MountPath == f["store_dir"] && claims[vm.Name] }) {
			t.Errorf("%s: the JetStream store %q is not on a volume claim", k.name, f["store_dir"])
		}
		monitor := strconv.Itoa(8222)
		for what, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
			if p == nil || p.HTTPGet == nil || !strings.HasPrefix(p.HTTPGet.Path, "/healthz") || strconv.Itoa(portNumber(c, p.HTTPGet.Port)) != monitor || f["http_port"] != monitor {
				t.Errorf("%s: NATS %s probe %+v, want /healthz on the monitoring port %s (--http_port %s)", k.name, what, p, monitor, f["http_port"])
			}
		}
		for _, s := range stages {
			d := m.deployments[s.name]
			env := podEnv(t, k.name+" "+s.name, m, d.Spec.Template.Spec, container(t, k.name, d.Spec.Template.Spec, s.name))
			if env["NATS_URL"] != strings.Join(clients, ",") {
				t.Errorf("%s: %s NATS_URL %q, want every server: %s", k.name, s.name, env["NATS_URL"], strings.Join(clients, ","))
			}
			if env["STREAM_REPLICAS"] != strconv.Itoa(n) {
				t.Errorf("%s: %s STREAM_REPLICAS %q, want %d", k.name, s.name, env["STREAM_REPLICAS"], n)
			}
		}
	}
}

// TestKubernetesStages: two replicas of each stage, variables the service
// reads and a configuration it accepts, probes on the real listener and
// routes (HTTPS exactly when the gateway serves it), resources, an
// unprivileged read-only container, a PodDisruptionBudget for every
// workload and the gateway's autoscaler.
func TestKubernetesStages(t *testing.T) {
	t.Parallel()
	for _, k := range kustomizations {
		m := render(t, k.dir)
		for _, s := range stages {
			where := k.name + " " + s.name
			d, ok := m.deployments[s.name]
			if !ok {
				t.Errorf("%s: no Deployment", where)
				continue
			}
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
				t.Errorf("%s: replicas %s, want 2", where, deref(d.Spec.Replicas))
			}
			spec := d.Spec.Template.Spec
			c := container(t, where, spec, s.name)
			env := podEnv(t, where, m, spec, c)
			checkEnv(t, k.name, s, env)
			port := listenPort(t, where, s, env)
			scheme := corev1.URISchemeHTTP
			if env["GATEWAY_TLS_CERT"] != "" {
				scheme = corev1.URISchemeHTTPS
			}
			for what, pr := range map[string]struct {
				p    *corev1.Probe
				path string
			}{"readiness": {c.ReadinessProbe, s.readiness}, "liveness": {c.LivenessProbe, s.liveness}} {
				g := (*corev1.HTTPGetAction)(nil)
				if pr.p != nil {
					g = pr.p.HTTPGet
				}
				if g == nil || g.Path != pr.path || portNumber(c, g.Port) != port || (g.Scheme != scheme && !(g.Scheme == "" && scheme == corev1.URISchemeHTTP)) {
					t.Errorf("%s: %s probe %+v, want %s %s on port %d (%s)", where, what, g, scheme, pr.path, port, s.listenVar)
				}
			}
			r := c.Resources
			if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
				t.Errorf("%s: resources %+v, want CPU and memory requests and a memory limit", where, r)
			}
			if !hardened(spec, c) {
				t.Errorf("%s: want a non-root pod and a read-only container without privilege escalation", where)
			}
		}
		workloads := map[string]map[string]string{"StatefulSet nats": m.statefulSets["nats"].Spec.Template.Labels}
		for name, d := range m.deployments {
			workloads["Deployment "+name] = d.Spec.Template.Labels
		}
		for w, podLabels := range workloads {
			if !slices.ContainsFunc(slices.Collect(maps.Values(m.pdbs)), func(p policyv1.PodDisruptionBudget) bool {
				return p.Spec.Selector != nil && labels.SelectorFromSet(p.Spec.Selector.MatchLabels).Matches(labels.Set(podLabels))
			}) {
				t.Errorf("%s: no PodDisruptionBudget selects %s's pods", k.name, w)
			}
		}
		for name, svc := range m.services {
			var pods []corev1.PodSpec
			for _, d := range m.deployments {
				if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
					pods = append(pods, d.Spec.Template.Spec)
				}
			}
			for _, st := range m.statefulSets {
				if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(st.Spec.Template.Labels)) {
					pods = append(pods, st.Spec.Template.Spec)
				}
			}
			if len(svc.Spec.Selector) == 0 || len(pods) == 0 {
				t.Errorf("%s: Service %s selects no pods", k.name, name)
			}
			for _, sp := range svc.Spec.Ports {
				for _, pod := range pods {
					if !slices.ContainsFunc(pod.Containers, func(c corev1.Container) bool { return portNumber(c, sp.TargetPort) > 0 }) {
						t.Errorf("%s: Service %s port %s targets %s, which its pods do not expose", k.name, name, sp.Name, sp.TargetPort.String())
					}
				}
			}
		}
		hpas := slices.Collect(maps.Values(m.hpas))
		i := slices.IndexFunc(hpas, func(h autoscalingv2.HorizontalPodAutoscaler) bool {
			return h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == "gateway"
		})
		if i < 0 {
			t.Errorf("%s: no HorizontalPodAutoscaler for the gateway", k.name)
		} else if h := hpas[i].Spec; h.MinReplicas == nil || *h.MinReplicas < 2 || h.MaxReplicas <= *h.MinReplicas || len(h.Metrics) == 0 {
			t.Errorf("%s: gateway autoscaler min %s max %d metrics %d: want at least 2, room above, a metric", k.name, deref(h.MinReplicas), h.MaxReplicas, len(h.Metrics))
		}
	}
}

// TestKubernetesSecretsAndImages: no Secret is rendered and no credential
// is written in a ConfigMap or an env value (they come from Secret
// references, whose keys the README documents); every image is pinned; the
// overlay puts everything in its namespace.
func TestKubernetesSecretsAndImages(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../kubernetes/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for key := range sampleSecrets {
		if !strings.Contains(string(readme), "--from-literal="+key+"=") {
			t.Errorf("deploy/kubernetes/README.md does not say how to create %s's key %s", secretsName, key)
		}
	}
	for _, k := range kustomizations {
		m := render(t, k.dir)
		if len(m.secrets) > 0 {
			t.Errorf("%s: renders %d Secrets; secrets are created outside the manifests", k.name, len(m.secrets))
		}
		for name, cm := range m.configMaps {
			for key, v := range cm.Data {
				if _, ok := userinfoPassword(v); ok || credential.MatchString(key) {
					t.Errorf("%s: ConfigMap %s holds a credential in %s", k.name, name, key)
				}
			}
		}
		var pods []corev1.PodSpec
		for _, d := range m.deployments {
			pods = append(pods, d.Spec.Template.Spec)
		}
		for _, s := range m.statefulSets {
			pods = append(pods, s.Spec.Template.Spec)
		}
		for _, j := range m.jobs {
			pods = append(pods, j.Spec.Template.Spec)
		}
		for _, spec := range pods {
			for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
				if why := unpinned(c.Image); why != "" {
					t.Errorf("%s: container %s image %q is not pinned: %s", k.name, c.Name, c.Image, why)
				}
				for _, e := range c.Env {
					if e.ValueFrom != nil {
						continue
					}
					if _, ok := userinfoPassword(e.Value); ok || credential.MatchString(e.Name) {
						t.Errorf("%s: container %s has %s written in the manifest; want a secretKeyRef", k.name, c.Name, e.Name)
					}
				}
			}
		}
		if k.namespace != "" {
			for _, o := range m.objects {
				if o.Kind != "Namespace" && o.Namespace != k.namespace {
					t.Errorf("%s: %s %s is in namespace %q, want %q", k.name, o.Kind, o.Name, o.Namespace, k.namespace)
				}
			}
		}
	}
}

// TestKubernetesMigration: a Job runs `serviceping migrate` on the
// loaders' warehouse and cluster (one ConfigMap, one Secret key), as an
// unprivileged read-only container retried on failure, and goes away once
// finished so that the next apply runs it again.
func TestKubernetesMigration(t *testing.T) {
	t.Parallel()
	for _, k := range kustomizations {
		m := render(t, k.dir)
		job, ok := m.jobs["migrate"]
		if !ok {
			t.Errorf("%s: no Job migrate", k.name)
			continue
		}
		spec := job.Spec.Template.Spec
		c := container(t, k.name+" migrate", spec, "migrate")
		if unpinned(c.Image) != "" || !strings.Contains(c.Image, "serviceping/serviceping") {
			t.Errorf("%s: the migration job runs %s, want the pinned serviceping image", k.name, c.Image)
		}
		loader := m.deployments["loader"].Spec.Template.Spec
		checkMigration(t, k.name, c.Args, podEnv(t, k.name+" migrate", m, spec, c),
			podEnv(t, k.name+" loader", m, loader, container(t, k.name+" loader", loader, "loader")))
		if spec.RestartPolicy != corev1.RestartPolicyOnFailure || job.Spec.TTLSecondsAfterFinished == nil {
			t.Errorf("%s: the migration job restarts %q, TTL %v: want OnFailure and a TTL after it finished", k.name, spec.RestartPolicy, job.Spec.TTLSecondsAfterFinished)
		}
		if !hardened(spec, c) {
			t.Errorf("%s: the migration job: want a non-root pod and a read-only container without privilege escalation", k.name)
		}
	}
}
