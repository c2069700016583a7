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
	urls, missing := DesiredWorkers(pods, intstr.FromString("http"))
	want := []string{"http://10.0.0.1:8000", "http://10.0.0.2:8000", "http://[fd00::5]:8000"}
	if !reflect.DeepEqual(urls, want) {
		t.Fatalf("named port: got %v, want %v", urls, want)
	}
	if !reflect.DeepEqual(missing, []string{"np"}) {
		t.Fatalf("pods without the port: %v", missing)
	}
	urls, missing = DesiredWorkers(pods, intstr.FromInt32(9000))
	if len(urls) != 4 || urls[0] != "http://10.0.0.1:9000" || len(missing) != 0 {
		t.Fatalf("numeric port: %v %v", urls, missing)
	}
	if urls, _ := DesiredWorkers(nil, intstr.FromInt32(1)); len(urls) != 0 {
		t.Fatalf("no pods: %v", urls)
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
			ConfigSynced: true, LastSync: now, Stats: &replicaStats{InFlight: 2, Queued: 1, TreeTextBytes: 100}}
	}
	workers := []string{"http://10.0.0.1:8000", "http://10.0.0.2:8000"}

	st := BuildStatus(routingv1alpha1.SGLangRouterStatus{}, Observation{Generation: 3, Workers: workers,
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
