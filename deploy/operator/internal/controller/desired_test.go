package controller

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	routingv1alpha1 "sglang-router.dev/operator/api/v1alpha1"
	"sglang-router.dev/operator/internal/adminpb"
)

func pod(name, ip string, phase corev1.PodPhase, ready bool) corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: "uid-" + "name"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "w", Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8000}}}}},
		Status: corev1.PodStatus{Phase: phase, PodIP: ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

// onePool is spec.workers with pods.
func onePool(port intstr.IntOrString, pods []corev1.Pod) []PoolPods {
	spec := routingv1alpha1.SGLangRouterSpec{Workers: &routingv1alpha1.WorkerSelection{Port: port}}
	return []PoolPods{{Pool: PoolsOf(&spec)[0], Pods: pods}}
}

func TestDesiredWorkersTakesReadyPodsOnly(t *testing.T) {
	deleting := pod("d", "10.0.0.4", corev1.PodRunning, true)
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	noPort := pod("np", "10.0.0.6", corev1.PodRunning, true)
	noPort.Spec.Containers[0].Ports = nil
	pods := []corev1.Pod{
		pod("b", "10.0.0.2", corev1.PodRunning, true),
		pod("a", "10.0.0.1", corev1.PodRunning, true),
		pod("unready", "10.0.0.3", corev1.PodRunning, false),
		deleting,
		pod("pending", "", corev1.PodPending, false),
		pod("dup", "10.0.0.1", corev1.PodRunning, true), // same address twice: once
		pod("v6", "fd00::5", corev1.PodRunning, true),
		noPort,
	}
	ws, left := DesiredWorkers(onePool(intstr.FromString("http"), pods))
	want := []string{"http://10.0.0.1:8000", "http://10.0.0.2:8000", "http://[fd00::5]:8000"}
	if !reflect.DeepEqual(URLs(ws), want) {
		t.Fatalf("named port: got %v, want %v", URLs(ws), want)
	}
	for _, w := range ws {
		if w.Pool != "workers" || w.Role != "regular" || w.ModelID != "" || w.BootstrapPort != nil {
			t.Fatalf("spec.workers is a regular pool without a model: %+v", w)
		}
	}
	if len(left) != 1 || left[0].Pod != "np" || left[0].Reason != "WorkerPortNotFound" || left[0].Why != "no port http" {
		t.Fatalf("pods without the port: %+v", left)
	}
	ws, left = DesiredWorkers(onePool(intstr.FromInt32(9000), pods))
	if len(ws) != 4 || ws[0].URL != "http://10.0.0.1:9000" || len(left) != 0 {
		t.Fatalf("numeric port: %v %v", ws, left)
	}
	if ws, _ := DesiredWorkers(onePool(intstr.FromInt32(1), nil)); len(ws) != 0 {
		t.Fatalf("no pods: %v", ws)
	}
	// The request of a regular fleet without models is the URL list every
	// router version reads.
	req := WorkersRequest(ws)
	if len(req.GetWorkers()) != 0 || !reflect.DeepEqual(req.GetUrls(), URLs(ws)) {
		t.Fatalf("regular request: %v", req)
	}
}

func annotated(p corev1.Pod, port string) corev1.Pod {
	p.Annotations = map[string]string{"sglang.ai/bootstrap-port": port}
	return p
}

// Pools: roles, models, bootstrap ports from the annotation or the spec,
// pods in two pools, and what goes to the routers.
func TestWorkerPools(t *testing.T) {
	spec := routingv1alpha1.SGLangRouterSpec{
		Workers: &routingv1alpha1.WorkerSelection{Port: intstr.FromString("http")},
		WorkerPools: []routingv1alpha1.WorkerPool{
			{Name: "llama-prefill", Role: "prefill", ModelID: "org/llama-8b", BootstrapPort: ptr.To[int32](8998),
				Port: intstr.FromString("http")},
			{Name: "llama-decode", Role: "decode", ModelID: "org/llama-8b",
				Port: intstr.FromInt32(9000)},
			{Name: "qwen", ModelID: "qwen-7b", // role defaulted by the API server; here left empty
				Port: intstr.FromString("http")},
			{Name: "bare-prefill", Role: "prefill",
				Port: intstr.FromString("http")},
		},
	}
	pools := PoolsOf(&spec)
	if len(pools) != 5 || pools[0].Name != "workers" || pools[0].Role != "regular" || pools[3].Role != "regular" {
		t.Fatalf("pools: %+v", pools)
	}
	pp := []PoolPods{
		{Pool: pools[0], Pods: []corev1.Pod{pod("r0", "10.0.0.1", corev1.PodRunning, true)}},
		{Pool: pools[1], Pods: []corev1.Pod{
			annotated(pod("p0", "10.0.1.1", corev1.PodRunning, true), "7000"), // the annotation wins
			pod("p1", "10.0.1.2", corev1.PodRunning, true),                    // the spec's port
			annotated(pod("p2", "10.0.1.3", corev1.PodRunning, true), "none"),
			annotated(pod("p3", "10.0.1.4", corev1.PodRunning, true), "70000"), // left out
		}},
		{Pool: pools[2], Pods: []corev1.Pod{
			annotated(pod("d0", "10.0.2.1", corev1.PodRunning, true), "7000"), // ignored on decode
		}},
		{Pool: pools[3], Pods: []corev1.Pod{
			pod("q0", "10.0.3.1", corev1.PodRunning, true),
			pod("r0", "10.0.0.1", corev1.PodRunning, true), // also spec.workers': stays there
		}},
		{Pool: pools[4], Pods: []corev1.Pod{pod("b0", "10.0.4.1", corev1.PodRunning, true)}},
	}
	ws, left := DesiredWorkers(pp)
	got := map[string]DesiredWorker{}
	for _, w := range ws {
		got[w.URL] = w
	}
	check := func(url, pool, role, model string, port *int32) {
		t.Helper()
		w, ok := got[url]
		if !ok || w.Pool != pool || w.Role != role || w.ModelID != model || !reflect.DeepEqual(w.BootstrapPort, port) {
			t.Fatalf("%s: got %+v (bootstrap %v), want pool %s role %s model %q bootstrap %v", url, w,
				w.BootstrapPort, pool, role, model, port)
		}
	}
	check("http://10.0.0.1:8000", "workers", "regular", "", nil)
	check("http://10.0.1.1:8000", "llama-prefill", "prefill", "org/llama-8b", ptr.To[int32](7000))
	check("http://10.0.1.2:8000", "llama-prefill", "prefill", "org/llama-8b", ptr.To[int32](8998))
	check("http://10.0.1.3:8000", "llama-prefill", "prefill", "org/llama-8b", nil)
	check("http://10.0.2.1:9000", "llama-decode", "decode", "org/llama-8b", nil)
	check("http://10.0.3.1:8000", "qwen", "regular", "qwen-7b", nil)
	check("http://10.0.4.1:8000", "bare-prefill", "prefill", "", nil)
	if len(ws) != 7 {
		t.Fatalf("workers: %+v", ws)
	}
	if len(left) != 2 || left[0].Pod != "p3" || left[0].Reason != "BootstrapPortInvalid" ||
		!strings.Contains(left[0].Why, `sglang.ai/bootstrap-port="70000"`) || left[1].Pod != "r0" ||
		left[1].Pool != "qwen" || left[1].Reason != "WorkerInSeveralPools" {
		t.Fatalf("left out: %+v", left)
	}

	// The request: regular workers without a model as URLs, the rest as specs.
	req := WorkersRequest(ws)
	if !reflect.DeepEqual(req.GetUrls(), []string{"http://10.0.0.1:8000"}) || len(req.GetWorkers()) != 6 {
		t.Fatalf("request: %v", req)
	}
	specs := map[string]*adminpb.WorkerSpec{}
	for _, s := range req.GetWorkers() {
		specs[s.GetUrl()] = s
	}
	if s := specs["http://10.0.1.1:8000"]; s.GetRole() != adminpb.WorkerRole_WORKER_ROLE_PREFILL ||
		s.GetBootstrapPort() != 7000 || s.GetModelId() != "org/llama-8b" {
		t.Fatalf("prefill spec: %v", s)
	}
	if s := specs["http://10.0.1.3:8000"]; s.BootstrapPort != nil || s.GetRole() != adminpb.WorkerRole_WORKER_ROLE_PREFILL {
		t.Fatalf("prefill without a port: %v", s)
	}
	if s := specs["http://10.0.4.1:8000"]; s.ModelId != nil {
		t.Fatalf("a pool without a model sends none: %v", s)
	}

	// What a router lists back, as it would after the push.
	listed := func() []*adminpb.Worker {
		var out []*adminpb.Worker
		for _, u := range req.GetUrls() {
			out = append(out, &adminpb.Worker{Url: ptr.To(u), Role: adminpb.WorkerRole_WORKER_ROLE_REGULAR.Enum(),
				ModelId: ptr.To("discovered")})
		}
		for _, s := range req.GetWorkers() {
			model := s.ModelId
			if model == nil {
				model = ptr.To("discovered")
			}
			out = append(out, &adminpb.Worker{Url: s.Url, Role: s.Role, BootstrapPort: s.BootstrapPort,
				ModelId: model})
		}
		return out
	}
	if !WorkersMatch(ws, listed()) {
		t.Fatal("the pushed list must match (discovered models of pools without one are left alone)")
	}
	for name, edit := range map[string]func([]*adminpb.Worker) []*adminpb.Worker{
		"missing": func(l []*adminpb.Worker) []*adminpb.Worker { return l[1:] },
		"extra": func(l []*adminpb.Worker) []*adminpb.Worker {
			return append(l, &adminpb.Worker{Url: ptr.To("http://10.9.9.9:1")})
		},
		"role": func(l []*adminpb.Worker) []*adminpb.Worker {
			l[len(l)-1].Role = adminpb.WorkerRole_WORKER_ROLE_DECODE.Enum()
			return l
		},
		"port": func(l []*adminpb.Worker) []*adminpb.Worker {
			for _, w := range l {
				if w.GetUrl() == "http://10.0.1.1:8000" {
					w.BootstrapPort = ptr.To[int32](7001)
				}
			}
			return l
		},
		"port-gone": func(l []*adminpb.Worker) []*adminpb.Worker {
			for _, w := range l {
				if w.GetUrl() == "http://10.0.1.2:8000" {
					w.BootstrapPort = nil
				}
			}
			return l
		},
		"model": func(l []*adminpb.Worker) []*adminpb.Worker {
			for _, w := range l {
				if w.GetUrl() == "http://10.0.3.1:8000" {
					w.ModelId = ptr.To("other")
				}
			}
			return l
		},
	} {
		if WorkersMatch(ws, edit(listed())) {
			t.Fatalf("%s: must not match", name)
		}
	}
	// A router that reports no role lists regular workers.
	old := []*adminpb.Worker{{Url: ptr.To("http://10.0.0.1:8000")}}
	if !WorkersMatch([]DesiredWorker{{URL: "http://10.0.0.1:8000", Role: "regular"}}, old) {
		t.Fatal("no role reported is regular")
	}
}

func TestRouterTargetsNeedOnlyRunning(t *testing.T) {
	gone := pod("r-gone", "10.0.1.9", corev1.PodRunning, true)
	gone.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	pods := []corev1.Pod{
		pod("r-b", "10.0.1.2", corev1.PodRunning, false), // not ready: it has no workers yet
		pod("r-a", "10.0.1.1", corev1.PodRunning, true),
		pod("r-pending", "", corev1.PodPending, false),
		gone,
	}
	got := RouterTargets(pods, 30001)
	if len(got) != 2 || got[0].Pod != "r-a" || got[0].Address != "10.0.1.1:30001" || got[1].Pod != "r-b" {
		t.Fatalf("targets: %+v", got)
	}
}

func TestDesiredConfigAndMatching(t *testing.T) {
	s := routingv1alpha1.RoutingSettings{Policy: "cache_cost", CacheThreshold: ptr.To(0.3),
		BalanceAbsThreshold: ptr.To[int64](8)}
	want := DesiredConfig(s)
	if want.GetPolicy() != "cache_cost" || want.GetCacheThreshold() != 0.3 || want.CacheRoutingProb != nil {
		t.Fatalf("config: %v", want)
	}
	got := &adminpb.RouterConfig{Policy: ptr.To("cache_cost"), CacheThreshold: ptr.To(0.30000000001),
		BalanceAbsThreshold: ptr.To[int64](8), CacheRoutingProb: ptr.To(1.0)}
	if !ConfigMatches(want, got) {
		t.Fatal("equal settings (up to float rounding, extra fields ignored) must match")
	}
	got.CacheThreshold = ptr.To(0.31)
	if ConfigMatches(want, got) {
		t.Fatal("a different threshold must not match")
	}
	got.CacheThreshold, got.Policy = ptr.To(0.3), ptr.To("cache_aware")
	if ConfigMatches(want, got) || ConfigMatches(want, nil) {
		t.Fatal("a different policy, or no config, must not match")
	}
	// The load model's and the miss rule's settings travel and are compared too.
	s.CacheMissMargin, s.LoadDecodeWeight = ptr.To[int64](3), ptr.To(0.5)
	want = DesiredConfig(s)
	if want.GetCacheMissMargin() != 3 || want.GetLoadDecodeWeight() != 0.5 {
		t.Fatalf("config: %v", want)
	}
	got.Policy, got.CacheMissMargin, got.LoadDecodeWeight = ptr.To("cache_cost"), ptr.To[int64](3), ptr.To(0.5)
	if !ConfigMatches(want, got) {
		t.Fatal("equal margin and decode weight must match")
	}
	got.CacheMissMargin = ptr.To[int64](1000000000)
	if ConfigMatches(want, got) {
		t.Fatal("a different miss margin must not match")
	}
	got.CacheMissMargin, got.LoadDecodeWeight = ptr.To[int64](3), ptr.To(1.0)
	if ConfigMatches(want, got) {
		t.Fatal("a different decode weight must not match")
	}
	// The concurrency limit and its queue: unset, left out (the router keeps
	// its command line's), whatever the router has; set, pushed and compared.
	got.LoadDecodeWeight, got.MaxConcurrentRequests, got.QueueSize = ptr.To(0.5), ptr.To[int64](192), ptr.To[int64](100)
	if want.MaxConcurrentRequests != nil || want.QueueSize != nil || !ConfigMatches(want, got) {
		t.Fatalf("unset limits must be left out and match any: %v", want)
	}
	s.MaxConcurrentPerWorker, s.QueueSize, s.QueueTimeoutSeconds = ptr.To[int64](24), ptr.To[int64](100000),
		ptr.To[int64](600)
	want = DesiredConfig(s)
	if want.GetMaxConcurrentPerWorker() != 24 || want.GetQueueSize() != 100000 || want.GetQueueTimeoutSecs() != 600 ||
		want.MaxConcurrentRequests != nil {
		t.Fatalf("config: %v", want)
	}
	if ConfigMatches(want, got) {
		t.Fatal("a router without the per-worker limit must not match")
	}
	got.MaxConcurrentPerWorker, got.QueueSize, got.QueueTimeoutSecs = ptr.To[int64](24), ptr.To[int64](100000),
		ptr.To[int64](600)
	if !ConfigMatches(want, got) {
		t.Fatal("equal limits must match")
	}
	got.QueueTimeoutSecs = ptr.To[int64](60)
	if ConfigMatches(want, got) {
		t.Fatal("a different queue timeout must not match")
	}
	if !SameWorkers([]string{"a", "b"}, []string{"a", "b"}) || SameWorkers([]string{"a"}, []string{"a", "b"}) ||
		SameWorkers([]string{"a", "c"}, []string{"a", "b"}) {
		t.Fatal("SameWorkers")
	}
}

func condition(t *testing.T, st routingv1alpha1.SGLangRouterStatus, typ string) metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(st.Conditions, typ)
	if c == nil {
		t.Fatalf("no %s condition in %+v", typ, st.Conditions)
	}
	return *c
}

func TestStatusConditions(t *testing.T) {
	now := time.Now()
	synced := func(name string) *ReplicaState {
		return &ReplicaState{Target: RouterTarget{Pod: name, Address: name + ":30001"}, WorkersSynced: true,
			ConfigSynced: true, LastSync: now, Stats: &replicaStats{InFlight: 2, Queued: 1, TreeTextBytes: 100, ConcurrencyLimit: 24}}
	}
	workers := []DesiredWorker{{URL: "http://10.0.0.1:8000", Pool: "workers", Role: "regular"},
		{URL: "http://10.0.0.2:8000", Pool: "workers", Role: "regular"}}
	pools := PoolsOf(&routingv1alpha1.SGLangRouterSpec{Workers: &routingv1alpha1.WorkerSelection{}})

	st := BuildStatus(routingv1alpha1.SGLangRouterStatus{}, Observation{Generation: 3, Pools: pools, Workers: workers,
		Replicas: []*ReplicaState{synced("r-0"), synced("r-1")}, StatsAt: now, Now: now})
	if c := condition(t, st, "Ready"); c.Status != metav1.ConditionTrue || c.Reason != "Synced" || c.ObservedGeneration != 3 {
		t.Fatalf("all synced: %+v", c)
	}
	if c := condition(t, st, "Degraded"); c.Status != metav1.ConditionFalse {
		t.Fatalf("all synced, degraded: %+v", c)
	}
	if st.SyncedRouters != "2/2" || st.ReadyWorkers != 2 || st.ObservedGeneration != 3 || st.Stats == nil ||
		st.Stats.InFlight != 4 || st.Stats.TreeTextBytes != 200 || len(st.RouterReplicas) != 2 {
		t.Fatalf("summary: %+v", st)
	}
	if st.Stats.ConcurrencyLimit != 48 {
		t.Fatalf("two replicas with a limit of 24: %+v", st.Stats)
	}
	open := synced("r-1")
	open.Stats = &replicaStats{ConcurrencyLimit: 0}
	if s := BuildStatus(routingv1alpha1.SGLangRouterStatus{}, Observation{Generation: 3, Pools: pools,
		Workers: workers, Replicas: []*ReplicaState{synced("r-0"), open}, StatsAt: now, Now: now}); s.Stats == nil ||
		s.Stats.ConcurrencyLimit != 0 {
		t.Fatalf("one replica without a limit: the fleet has none: %+v", s.Stats)
	}
	readySince := condition(t, st, "Ready").LastTransitionTime

	// A replica rejects the token: Degraded with the gRPC code, Ready false,
	// the other replica unaffected; Ready's transition time moves.
	bad := synced("r-1")
	bad.WorkersSynced, bad.ConfigSynced = false, false
	bad.Err = errors.New("ListWorkers: " + status.Error(codes.Unauthenticated, "bad token").Error())
	bad.ErrReason = codes.Unauthenticated.String()
	later := now.Add(time.Minute)
	st2 := BuildStatus(st, Observation{Generation: 3, Workers: workers, Replicas: []*ReplicaState{synced("r-0"), bad},
		Now: later})
	d := condition(t, st2, "Degraded")
	if d.Status != metav1.ConditionTrue || d.Reason != "Unauthenticated" || !strings.Contains(d.Message, "r-1 (r-1:30001)") {
		t.Fatalf("bad token: %+v", d)
	}
	if r := condition(t, st2, "Ready"); r.Status != metav1.ConditionFalse || r.LastTransitionTime == readySince {
		t.Fatalf("bad token, ready: %+v", r)
	}
	if w := condition(t, st2, "WorkersSynced"); w.Status != metav1.ConditionFalse || w.Reason != "ReplicasOutOfSync" {
		t.Fatalf("bad token, workers synced: %+v", w)
	}
	if st2.SyncedRouters != "1/2" || st2.RouterReplicas[1].Error == "" {
		t.Fatalf("bad token, replicas: %+v", st2.RouterReplicas)
	}

	// Nothing matches the worker selector: synced (an empty list) but degraded.
	st3 := BuildStatus(st, Observation{Generation: 4, Replicas: []*ReplicaState{synced("r-0")}, Now: later})
	if d := condition(t, st3, "Degraded"); d.Status != metav1.ConditionTrue || d.Reason != "NoReadyWorkers" {
		t.Fatalf("no workers: %+v", d)
	}
	if c := condition(t, st3, "WorkersSynced"); c.Status != metav1.ConditionTrue {
		t.Fatalf("no workers, synced: %+v", c)
	}
	if r := condition(t, st3, "Ready"); r.Status != metav1.ConditionFalse || r.Reason != "NoReadyWorkers" {
		t.Fatalf("no workers, ready: %+v", r)
	}

	// No router replica; a missing Secret comes first.
	st4 := BuildStatus(st, Observation{Generation: 4, Workers: workers, Now: later})
	if d := condition(t, st4, "Degraded"); d.Reason != "NoRouterReplicas" || st4.SyncedRouters != "0/0" {
		t.Fatalf("no routers: %+v", d)
	}
	st5 := BuildStatus(st, Observation{Generation: 4, Workers: workers, CredsErr: errors.New("admin token Secret x: not found"),
		Replicas: []*ReplicaState{synced("r-0")}, Now: later})
	if d := condition(t, st5, "Degraded"); d.Reason != "AdminCredentialsUnavailable" {
		t.Fatalf("no secret: %+v", d)
	}
}

// Pools in the status; a disaggregated model missing a half, and pods left
// out, are Degraded.
func TestStatusOfPools(t *testing.T) {
	now := time.Now()
	replica := &ReplicaState{Target: RouterTarget{Pod: "r-0", Address: "r-0:30001"}, WorkersSynced: true,
		ConfigSynced: true, LastSync: now}
	pools := []routingv1alpha1.WorkerPool{
		{Name: "p", Role: "prefill", ModelID: "m"},
		{Name: "d", Role: "decode", ModelID: "m"},
		{Name: "q", Role: "regular", ModelID: "q"},
	}
	workers := []DesiredWorker{
		{URL: "http://10.0.0.1:8000", Pool: "p", Role: "prefill", ModelID: "m"},
		{URL: "http://10.0.0.2:8000", Pool: "p", Role: "prefill", ModelID: "m"},
		{URL: "http://10.0.0.3:8000", Pool: "q", Role: "regular", ModelID: "q"},
	}
	st := BuildStatus(routingv1alpha1.SGLangRouterStatus{}, Observation{Generation: 1, Pools: pools,
		Workers: workers, Replicas: []*ReplicaState{replica}, Now: now})
	want := []routingv1alpha1.WorkerPoolStatus{{Name: "p", Role: "prefill", ModelID: "m", ReadyWorkers: 2},
		{Name: "d", Role: "decode", ModelID: "m"}, {Name: "q", Role: "regular", ModelID: "q", ReadyWorkers: 1}}
	if !reflect.DeepEqual(st.WorkerPools, want) || st.ReadyWorkers != 3 || len(st.Workers) != 3 {
		t.Fatalf("pools: %+v", st.WorkerPools)
	}
	d := condition(t, st, "Degraded")
	if d.Status != metav1.ConditionTrue || d.Reason != "DisaggregationIncomplete" ||
		d.Message != "model m: 2 prefill and 0 decode workers ready (PD needs both)" {
		t.Fatalf("half a PD fleet: %+v", d)
	}
	if r := condition(t, st, "Ready"); r.Status != metav1.ConditionTrue {
		t.Fatalf("the other model is served, so Ready: %+v", r)
	}
	// The decode half arrives: not degraded.
	workers = append(workers, DesiredWorker{URL: "http://10.0.0.4:8000", Pool: "d", Role: "decode", ModelID: "m"})
	st = BuildStatus(st, Observation{Generation: 1, Pools: pools, Workers: workers,
		Replicas: []*ReplicaState{replica}, Now: now})
	if d := condition(t, st, "Degraded"); d.Status != metav1.ConditionFalse {
		t.Fatalf("a whole PD fleet: %+v", d)
	}
	// A pod left out names itself, its pool and why.
	st = BuildStatus(st, Observation{Generation: 1, Pools: pools, Workers: workers,
		LeftOut:  []LeftOut{{Pod: "p9", Pool: "p", Reason: "BootstrapPortInvalid", Why: "annotation ..."}},
		Replicas: []*ReplicaState{replica}, Now: now})
	if d := condition(t, st, "Degraded"); d.Reason != "BootstrapPortInvalid" ||
		d.Message != "ready worker pods left out: p9 (pool p: annotation ...)" {
		t.Fatalf("left out: %+v", d)
	}
}
