// Package controller reconciles SGLangRouter resources: the ready worker
// pods of every pool (spec.workers and spec.workerPools: each pod with its
// pool's role, bootstrap port and model), the routing settings and the
// replica sync settings (spec.sync) go to every running router replica
// through its gRPC admin API, and the status says how that went.
//
// Worker and router pods are watched (controller-runtime's cache), so a pod
// that turns ready, unready or terminating triggers a reconcile at once. A
// reconcile also runs every ResyncInterval (1 s by default) to check each
// replica's lists with ListWorkers and GetConfig, which is how a router
// process that restarted inside an unchanged pod gets its state back; it
// pushes (SetWorkers, UpdateConfig) only when they differ. With spec.sync
// set, GetSync says whether the replica runs the sync settings, and SetSync
// pushes them only when it does not (see replicasync.go). Stats
// (GetQueueStats, GetTreeStats) are polled every StatsInterval. A replica
// that cannot be reached is retried with exponential backoff (250 ms
// doubling to 30 s) and never holds up the others: replicas are called in
// parallel, each call bounded by CallTimeout.
package controller

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	routingv1alpha1 "sglang-router.dev/operator/api/v1alpha1"
	"sglang-router.dev/operator/internal/admin"
	"sglang-router.dev/operator/internal/adminpb"
)

// SGLangRouterReconciler keeps router replicas in step with the cluster.
type SGLangRouterReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder record.EventRecorder

	ResyncInterval time.Duration // how often each replica's lists are checked
	StatsInterval  time.Duration // how often stats are read
	CallTimeout    time.Duration // bound of one admin call

	mu     sync.Mutex
	routes map[types.NamespacedName]*routerState
}

// routerState is the operator's memory of one SGLangRouter's replicas.
type routerState struct {
	pool     *admin.Pool
	replicas map[string]*ReplicaState // by pod name
	statsAt  time.Time
	// What the replicas were last tried with: a new spec generation or new
	// credentials end every backoff (the user may just have fixed them).
	generation int64
	credsKey   string
}

// syncPlan is what one reconcile wants of every replica's replica sync.
type syncPlan struct {
	managed bool                  // spec.sync names NATS servers
	want    *adminpb.SyncSettings // nil: not managed, or its Secrets unreadable (report only)
	hash    string                // SyncHash(want)
}

const (
	backoffBase = 250 * time.Millisecond
	backoffMax  = 30 * time.Second
)

// +kubebuilder:rbac:groups=routing.sglang-router.dev,resources=sglangrouters,verbs=get;list;watch
// +kubebuilder:rbac:groups=routing.sglang-router.dev,resources=sglangrouters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Reconcile brings one SGLangRouter's replicas in sync and records the status.
func (r *SGLangRouterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	var sr routingv1alpha1.SGLangRouter
	if err := r.Get(ctx, req.NamespacedName, &sr); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	var pools []PoolPods
	for _, pool := range PoolsOf(&sr.Spec) {
		pods, err := r.pods(ctx, sr.Namespace, &pool.Selector)
		if err != nil {
			return ctrl.Result{}, err
		}
		pools = append(pools, PoolPods{Pool: pool, Pods: pods})
	}
	routerPods, err := r.pods(ctx, sr.Namespace, &sr.Spec.Routers.Selector)
	if err != nil {
		return ctrl.Result{}, err
	}
	workers, leftOut := DesiredWorkers(pools)
	adminPort := sr.Spec.Routers.AdminPort
	if adminPort == 0 {
		adminPort = 30001
	}
	targets := RouterTargets(routerPods, adminPort)
	cfg := DesiredConfig(sr.Spec.Routing)
	creds, credsErr := r.credentials(ctx, &sr)
	plan := syncPlan{managed: SyncManaged(sr.Spec.Sync)}
	want, syncErr := r.syncSettings(ctx, &sr)
	if want != nil {
		plan.want, plan.hash = want, SyncHash(want)
	}

	now := time.Now()
	state := r.state(req.NamespacedName)
	key := creds.Key() + "|" + plan.hash
	if syncErr != nil {
		key += "|" + syncErr.Error()
	}
	if state.generation != sr.Generation || state.credsKey != key {
		state.generation, state.credsKey = sr.Generation, key
		for _, rs := range state.replicas {
			rs.RetryAt, rs.Failures = time.Time{}, 0
		}
	}
	statsDue := now.Sub(state.statsAt) >= r.StatsInterval
	replicas := make([]*ReplicaState, len(targets))
	keep := map[string]bool{}
	for i, t := range targets {
		rs := state.replicas[t.Pod]
		if rs == nil || rs.Target != t { // new pod, or a new pod under the same name
			rs = &ReplicaState{Target: t}
			state.replicas[t.Pod] = rs
		}
		replicas[i] = rs
		keep[t.Address] = true
	}
	for name, rs := range state.replicas {
		if !keep[rs.Target.Address] {
			delete(state.replicas, name)
		}
	}
	state.pool.Retain(keep)

	if credsErr != nil { // nothing can be checked: nothing is known to be in sync
		for _, rs := range replicas {
			rs.WorkersSynced, rs.ConfigSynced = false, false
			rs.SyncState, rs.SyncPeers = "", nil
		}
	} else {
		var wg sync.WaitGroup
		for _, rs := range replicas {
			if now.Before(rs.RetryAt) {
				continue
			}
			wg.Add(1)
			go func(rs *ReplicaState) {
				defer wg.Done()
				r.syncReplica(ctx, log, &sr, state.pool, creds, rs, workers, cfg, plan, statsDue)
			}(rs)
		}
		wg.Wait()
	}
	if statsDue {
		state.statsAt = now
	}

	group := want.GetGroup()
	if group == "" && plan.managed { // no settings (the Secrets are unreadable): the spec's group
		group = cmp.Or(sr.Spec.Sync.Group, defaultSyncGroup)
	}
	st := BuildStatus(sr.Status, Observation{Generation: sr.Generation, Pools: PoolsOf(&sr.Spec), Workers: workers,
		LeftOut: leftOut, Replicas: replicas, CredsErr: credsErr, SyncManaged: plan.managed, SyncGroup: group,
		SyncErr: syncErr, StatsAt: state.statsAt, Now: now})
	if !equality.Semantic.DeepEqual(sr.Status, st) {
		sr.Status = st
		if err := r.Status().Update(ctx, &sr); err != nil && !apierrors.IsConflict(err) {
			return ctrl.Result{}, err
		}
	}

	next := r.ResyncInterval
	for _, rs := range replicas {
		if wait := time.Until(rs.RetryAt); wait > 0 && wait < next {
			next = wait
		}
	}
	return ctrl.Result{RequeueAfter: next}, nil
}

// syncReplica checks one replica and pushes what differs.
func (r *SGLangRouterReconciler) syncReplica(ctx context.Context, log logr.Logger, sr *routingv1alpha1.SGLangRouter,
	pool *admin.Pool, creds admin.Target, rs *ReplicaState, workers []DesiredWorker, want *adminpb.RouterConfig,
	plan syncPlan, statsDue bool) {
	fail := func(what string, err error) {
		rs.Failures++
		delay := backoffBase << min(rs.Failures-1, 8)
		if delay > backoffMax {
			delay = backoffMax
		}
		rs.RetryAt = time.Now().Add(delay)
		rs.Err = fmt.Errorf("%s: %s", what, grpcMessage(err))
		rs.ErrReason = grpcReason(err)
		rs.SyncState, rs.SyncPeers = "", nil // unknown until the replica answers again
		if rs.Failures == 1 {
			log.Info("router replica failed", "pod", rs.Target.Pod, "address", rs.Target.Address, "call", what,
				"error", rs.Err.Error())
		}
	}
	t := creds
	t.Address = rs.Target.Address
	c, err := pool.Get(t)
	if err != nil {
		fail("connect", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.CallTimeout)
	defer cancel()
	pushed := false

	have, err := c.ListWorkers(ctx)
	if err != nil {
		fail("ListWorkers", err)
		return
	}
	if !WorkersMatch(workers, have) {
		if err := c.SetWorkers(ctx, WorkersRequest(workers)); err != nil {
			rs.WorkersSynced = false
			fail("SetWorkers", err)
			return
		}
		pushed = true
		log.Info("pushed workers", "pod", rs.Target.Pod, "workers", len(workers))
		r.Recorder.Eventf(sr, corev1.EventTypeNormal, "WorkersPushed", "%d workers to router replica %s",
			len(workers), rs.Target.Pod)
	}
	rs.WorkersSynced = true

	got, err := c.GetConfig(ctx)
	if err != nil {
		fail("GetConfig", err)
		return
	}
	if !ConfigMatches(want, got) {
		if err := c.UpdateConfig(ctx, want); err != nil {
			rs.ConfigSynced = false
			fail("UpdateConfig", err)
			return
		}
		pushed = true
		log.Info("pushed routing settings", "pod", rs.Target.Pod, "settings", describeConfig(want))
		r.Recorder.Eventf(sr, corev1.EventTypeNormal, "SettingsPushed", "%s to router replica %s",
			describeConfig(want), rs.Target.Pod)
	}
	rs.ConfigSynced = true

	if what, synced, err := r.syncNATS(ctx, log, sr, c, rs, plan); err != nil {
		fail(what, err)
		return
	} else if synced {
		pushed = true
	}

	if statsDue || rs.Stats == nil {
		s, err := c.GetStats(ctx)
		if err != nil {
			fail("GetStats", err)
			return
		}
		rs.Stats = &replicaStats{InFlight: s.InFlight, Queued: s.Queued, TreeTextBytes: s.TreeTextBytes,
			ConcurrencyLimit: s.ConcurrencyLimit}
	}
	if pushed || rs.LastSync.IsZero() || rs.Err != nil {
		rs.LastSync = time.Now()
	}
	if rs.Failures > 0 {
		log.Info("router replica back in sync", "pod", rs.Target.Pod, "after failures", rs.Failures)
	}
	rs.Failures, rs.RetryAt, rs.Err, rs.ErrReason = 0, time.Time{}, nil, ""
}

// syncNATS reads the replica's sync status (GetSync) and, when spec.sync is
// set and the replica does not run it, pushes it (SetSync). It returns the
// failed call and its error, and whether it pushed. Without spec.sync a
// failing GetSync (a router without replica sync answers Unimplemented) only
// leaves the state unknown.
func (r *SGLangRouterReconciler) syncNATS(ctx context.Context, log logr.Logger, sr *routingv1alpha1.SGLangRouter,
	c *admin.Client, rs *ReplicaState, plan syncPlan) (string, bool, error) {
	got, err := c.GetSync(ctx)
	if err != nil {
		rs.SyncState, rs.SyncPeers = "", nil
		if !plan.managed {
			return "", false, nil
		}
		return "GetSync", false, err
	}
	rs.observeSync(got)
	if plan.want == nil { // not managed, or its Secrets are unreadable: report only
		return "", false, nil
	}
	action, why := decideSync(plan.want, plan.hash, rs.sync, got)
	switch action {
	case syncAdopt:
		rs.sync = remember(got, plan.hash, false)
	case syncPush:
		st, err := c.SetSync(ctx, plan.want)
		if err != nil {
			rs.sync = syncMemory{}
			return "SetSync", false, err
		}
		rs.sync = remember(st, plan.hash, true)
		rs.observeSync(st)
		// The settings' credentials never reach a log or an event.
		servers := strings.Join(plan.want.GetNatsUrls(), ",")
		log.Info("pushed sync settings", "pod", rs.Target.Pod, "servers", servers, "group", plan.want.GetGroup(),
			"why", why)
		r.Recorder.Eventf(sr, corev1.EventTypeNormal, "SyncPushed", "NATS %s, group %s to router replica %s: %s",
			servers, plan.want.GetGroup(), rs.Target.Pod, why)
		return "", true, nil
	}
	return "", false, nil
}

// grpcReason names a failure for a condition: the gRPC code
// (Unauthenticated, Unavailable, DeadlineExceeded, ...).
func grpcReason(err error) string {
	if s, ok := status.FromError(err); ok {
		return s.Code().String()
	}
	return "AdminAPIError"
}

func grpcMessage(err error) string {
	if s, ok := status.FromError(err); ok {
		return fmt.Sprintf("%s: %s", s.Code(), s.Message())
	}
	return err.Error()
}

func (r *SGLangRouterReconciler) pods(ctx context.Context, ns string, sel *metav1.LabelSelector) ([]corev1.Pod, error) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, err
	}
	var list corev1.PodList
	if err := r.List(ctx, &list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: s}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// credentials reads the admin token and TLS material named by the spec.
func (r *SGLangRouterReconciler) credentials(ctx context.Context, sr *routingv1alpha1.SGLangRouter) (admin.Target, error) {
	var t admin.Target
	if ref := sr.Spec.Routers.AdminTokenSecretRef; ref != nil {
		key := ref.Key
		if key == "" {
			key = "token"
		}
		var s corev1.Secret
		if err := r.Get(ctx, types.NamespacedName{Namespace: sr.Namespace, Name: ref.Name}, &s); err != nil {
			return t, fmt.Errorf("admin token Secret %s: %w", ref.Name, err)
		}
		v, ok := s.Data[key]
		if !ok || len(v) == 0 {
			return t, fmt.Errorf("admin token Secret %s has no key %q", ref.Name, key)
		}
		t.Token = string(v)
	}
	if tc := sr.Spec.Routers.TLS; tc != nil {
		var s corev1.Secret
		if err := r.Get(ctx, types.NamespacedName{Namespace: sr.Namespace, Name: tc.SecretName}, &s); err != nil {
			return t, fmt.Errorf("admin TLS Secret %s: %w", tc.SecretName, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(s.Data["ca.crt"]) {
			return t, fmt.Errorf("admin TLS Secret %s: no PEM certificate under ca.crt", tc.SecretName)
		}
		cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, ServerName: tc.ServerName}
		if len(s.Data["tls.crt"]) > 0 {
			pair, err := tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"])
			if err != nil {
				return t, fmt.Errorf("admin TLS Secret %s: tls.crt/tls.key: %w", tc.SecretName, err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		// Without ServerName, gRPC verifies the address's host (the pod IP)
		// against the certificate's IP SANs.
		t.TLS = cfg
		t.TLSVersion = s.ResourceVersion
	}
	return t, nil
}

// syncSettings reads spec.sync's Secrets and builds the settings to push:
// nil, nil when the operator does not manage sync.
func (r *SGLangRouterReconciler) syncSettings(ctx context.Context, sr *routingv1alpha1.SGLangRouter) (
	*adminpb.SyncSettings, error) {
	sp := sr.Spec.Sync
	if !SyncManaged(sp) {
		return nil, nil
	}
	read := func(what, name string) (map[string][]byte, error) {
		var s corev1.Secret
		if err := r.Get(ctx, types.NamespacedName{Namespace: sr.Namespace, Name: name}, &s); err != nil {
			return nil, fmt.Errorf("NATS %s Secret %s: %w", what, name, err)
		}
		return s.Data, nil
	}
	var creds, tlsData map[string][]byte
	var err error
	if ref := sp.CredentialsSecretRef; ref != nil {
		if creds, err = read("credentials", ref.Name); err != nil {
			return nil, err
		}
	}
	if sp.TLSSecretName != "" {
		if tlsData, err = read("TLS", sp.TLSSecretName); err != nil {
			return nil, err
		}
	}
	return DesiredSync(sp, creds, tlsData)
}

func (r *SGLangRouterReconciler) state(nn types.NamespacedName) *routerState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.routes == nil {
		r.routes = map[types.NamespacedName]*routerState{}
	}
	s := r.routes[nn]
	if s == nil {
		s = &routerState{pool: admin.NewPool(), replicas: map[string]*ReplicaState{}}
		r.routes[nn] = s
	}
	return s
}

func (r *SGLangRouterReconciler) forget(nn types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.routes[nn]; s != nil {
		s.pool.Retain(nil)
		delete(r.routes, nn)
	}
}

// podToRouters maps a pod event to the SGLangRouters whose router selector
// or one of whose worker pools' selectors matches the pod.
func (r *SGLangRouterReconciler) podToRouters(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.matching(ctx, obj.GetNamespace(), func(sr *routingv1alpha1.SGLangRouter) bool {
		sels := []*metav1.LabelSelector{&sr.Spec.Routers.Selector}
		for _, pool := range PoolsOf(&sr.Spec) {
			sels = append(sels, &pool.Selector)
		}
		for _, sel := range sels {
			s, err := metav1.LabelSelectorAsSelector(sel)
			if err == nil && !s.Empty() && s.Matches(labels.Set(obj.GetLabels())) {
				return true
			}
		}
		return false
	})
}

// secretToRouters maps a Secret event to the SGLangRouters that use it.
func (r *SGLangRouterReconciler) secretToRouters(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.matching(ctx, obj.GetNamespace(), func(sr *routingv1alpha1.SGLangRouter) bool {
		ref, tc, sp := sr.Spec.Routers.AdminTokenSecretRef, sr.Spec.Routers.TLS, sr.Spec.Sync
		name := obj.GetName()
		if sp != nil && ((sp.CredentialsSecretRef != nil && sp.CredentialsSecretRef.Name == name) ||
			sp.TLSSecretName == name) {
			return true
		}
		return (ref != nil && ref.Name == name) || (tc != nil && tc.SecretName == name)
	})
}

func (r *SGLangRouterReconciler) matching(ctx context.Context, ns string,
	match func(*routingv1alpha1.SGLangRouter) bool) []reconcile.Request {
	var list routingv1alpha1.SGLangRouterList
	if err := r.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if match(&list.Items[i]) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// SetupWithManager registers the controller and its watches.
func (r *SGLangRouterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.ResyncInterval <= 0 || r.StatsInterval <= 0 || r.CallTimeout <= 0 {
		return errors.New("resync interval, stats interval and call timeout must be positive")
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&routingv1alpha1.SGLangRouter{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.podToRouters)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.secretToRouters)).
		Named("sglangrouter").
		Complete(r)
}
