package controller

// status.go: the resource's status from what one reconcile observed. Pure
// functions, unit-tested.

import (
	"cmp"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	routingv1alpha1 "sglang-router.dev/operator/api/v1alpha1"
	"sglang-router.dev/operator/internal/adminpb"
)

// ReplicaState is what the operator knows of one router replica.
type ReplicaState struct {
	Target        RouterTarget
	WorkersSynced bool
	ConfigSynced  bool
	LastSync      time.Time // when it was last brought in sync
	Err           error     // the last call's failure, nil after a success
	ErrReason     string    // a condition reason for Err (the gRPC code name)
	Failures      int
	RetryAt       time.Time
	Stats         *replicaStats
	SyncState     string // its replica sync state (GetSync); empty: unknown
	SyncPeers     *int32 // the peers it hears from
	sync          syncMemory
}

// observeSync records what a replica's sync status says.
func (rs *ReplicaState) observeSync(st *adminpb.SyncStatus) {
	n := int32(len(st.GetPeers()))
	rs.SyncState, rs.SyncPeers = st.GetState(), &n
}

type replicaStats struct {
	InFlight, Queued, TreeTextBytes, ConcurrencyLimit int64
}

// Observation is one reconcile's view of the world.
type Observation struct {
	Generation int64
	Pools      []routingv1alpha1.WorkerPool // PoolsOf the spec
	Workers    []DesiredWorker
	LeftOut    []LeftOut // ready worker pods not pushed
	Replicas   []*ReplicaState
	CredsErr   error // the admin token or TLS Secret could not be read
	// Replica sync: managed (spec.sync names NATS servers), its group, and
	// why its Secrets could not be used.
	SyncManaged bool
	SyncGroup   string
	SyncErr     error
	StatsAt     time.Time
	Now         time.Time
}

// BuildStatus computes the status; old supplies condition transition times.
func BuildStatus(old routingv1alpha1.SGLangRouterStatus, o Observation) routingv1alpha1.SGLangRouterStatus {
	st := routingv1alpha1.SGLangRouterStatus{
		ObservedGeneration: o.Generation,
		Conditions:         append([]metav1.Condition(nil), old.Conditions...),
		ReadyWorkers:       int32(len(o.Workers)),
		Workers:            URLs(o.Workers),
		WorkerPools:        poolStatus(o.Pools, o.Workers),
		Stats:              old.Stats,
	}
	workersSynced, configSynced, synced := 0, 0, 0
	var failing []string
	failReason := ""
	syncUpCount := 0
	var syncRefusedPods, syncDownPods, notUp []string
	var sum routingv1alpha1.StatsSummary
	haveStats, unlimited := false, false
	for _, r := range o.Replicas {
		rs := routingv1alpha1.RouterReplicaStatus{Pod: r.Target.Pod, Address: r.Target.Address,
			WorkersSynced: r.WorkersSynced, ConfigSynced: r.ConfigSynced, SyncState: r.SyncState}
		if r.SyncPeers != nil {
			rs.SyncPeers = ptr.To(*r.SyncPeers)
		}
		switch r.SyncState {
		case syncUp:
			syncUpCount++
		case syncRefused:
			syncRefusedPods = append(syncRefusedPods, r.Target.Pod)
		case syncDown:
			syncDownPods = append(syncDownPods, r.Target.Pod)
		}
		if r.SyncState != syncUp {
			notUp = append(notUp, fmt.Sprintf("%s: %s", r.Target.Pod, cmp.Or(r.SyncState, "unknown")))
		}
		if !r.LastSync.IsZero() {
			t := metav1.NewTime(r.LastSync.Truncate(time.Second))
			rs.LastSyncTime = &t
		}
		if r.Err != nil {
			rs.Error = r.Err.Error()
			failing = append(failing, fmt.Sprintf("%s (%s): %v", r.Target.Pod, r.Target.Address, r.Err))
			if failReason == "" {
				failReason = r.ErrReason
			}
		}
		if r.Stats != nil {
			rs.InFlight, rs.TreeTextBytes = &r.Stats.InFlight, &r.Stats.TreeTextBytes
			sum.InFlight += r.Stats.InFlight
			sum.Queued += r.Stats.Queued
			sum.TreeTextBytes += r.Stats.TreeTextBytes
			if r.Stats.ConcurrencyLimit == 0 {
				unlimited = true // one replica without a limit: the fleet has none
			}
			sum.ConcurrencyLimit += r.Stats.ConcurrencyLimit
			haveStats = true
		}
		if r.WorkersSynced {
			workersSynced++
		}
		if r.ConfigSynced {
			configSynced++
		}
		if r.WorkersSynced && r.ConfigSynced {
			synced++
		}
		st.RouterReplicas = append(st.RouterReplicas, rs)
	}
	if haveStats && !o.StatsAt.IsZero() {
		sum.UpdatedAt = metav1.NewTime(o.StatsAt.Truncate(time.Second))
		if unlimited {
			sum.ConcurrencyLimit = 0
		}
		st.Stats = &sum
	}
	n := len(o.Replicas)
	st.SyncedRouters = fmt.Sprintf("%d/%d", synced, n)

	set := func(t string, ok bool, reason, msg string) {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg,
			ObservedGeneration: o.Generation, LastTransitionTime: metav1.NewTime(o.Now)})
	}
	syncCond := func(t string, count int, what string) bool {
		switch {
		case n == 0:
			set(t, false, "NoRouterReplicas", "no running pod matches routers.selector")
		case count == n:
			set(t, true, "AllReplicasSynced", fmt.Sprintf("%d of %d router replicas hold the %s", count, n, what))
		default:
			set(t, false, "ReplicasOutOfSync", fmt.Sprintf("%d of %d router replicas hold the %s", count, n, what))
		}
		return n > 0 && count == n
	}
	wOK := syncCond(routingv1alpha1.ConditionWorkersSynced, workersSynced, "ready workers")
	cOK := syncCond(routingv1alpha1.ConditionConfigSynced, configSynced, "routing settings")

	// SyncReady only while the operator manages sync. Ready does not wait
	// for it: without NATS every replica routes from its own view.
	if o.SyncManaged {
		const t = routingv1alpha1.ConditionSyncReady
		switch {
		case o.SyncErr != nil:
			set(t, false, "SyncCredentialsUnavailable", o.SyncErr.Error())
		case n == 0:
			set(t, false, "NoRouterReplicas", "no running pod matches routers.selector")
		case syncUpCount == n:
			set(t, true, "AllReplicasUp", fmt.Sprintf("%d of %d router replicas are up on NATS (group %s)",
				syncUpCount, n, o.SyncGroup))
		case len(syncRefusedPods) > 0:
			set(t, false, "SyncRefused", "the NATS server refused the credentials of "+
				strings.Join(syncRefusedPods, ", "))
		default:
			set(t, false, "ReplicasNotUp", fmt.Sprintf("%d of %d router replicas are up on NATS; %s",
				syncUpCount, n, strings.Join(notUp, ", ")))
		}
	} else {
		meta.RemoveStatusCondition(&st.Conditions, routingv1alpha1.ConditionSyncReady)
	}

	incomplete := incompletePD(o.Pools, o.Workers)
	// Degraded: the first problem in order of what a user should fix first.
	degraded, reason, msg := false, "AsExpected", "router replicas are reachable and in sync"
	switch {
	case o.CredsErr != nil:
		degraded, reason, msg = true, "AdminCredentialsUnavailable", o.CredsErr.Error()
	case len(failing) > 0:
		sort.Strings(failing)
		degraded, reason, msg = true, failReason, strings.Join(failing, "; ")
	case n == 0:
		degraded, reason, msg = true, "NoRouterReplicas", "no running pod matches routers.selector"
	case len(o.Workers) == 0:
		degraded, reason = true, "NoReadyWorkers"
		msg = "no ready pod matches the worker selectors: the routers answer 503 until one is ready"
	case len(o.LeftOut) > 0:
		degraded, reason = true, o.LeftOut[0].Reason
		var pods []string
		for _, l := range o.LeftOut {
			pods = append(pods, fmt.Sprintf("%s (pool %s: %s)", l.Pod, l.Pool, l.Why))
		}
		msg = "ready worker pods left out: " + strings.Join(pods, ", ")
	case incomplete != "":
		degraded, reason, msg = true, "DisaggregationIncomplete", incomplete
	case o.SyncManaged && o.SyncErr != nil:
		degraded, reason, msg = true, "SyncCredentialsUnavailable", o.SyncErr.Error()
	case o.SyncManaged && len(syncRefusedPods) > 0:
		degraded, reason = true, "SyncRefused"
		msg = "the NATS server refused the credentials of " + strings.Join(syncRefusedPods, ", ")
	case o.SyncManaged && len(syncDownPods) > 0:
		degraded, reason = true, "SyncDown"
		msg = "router replicas lost NATS (each routes from its own view meanwhile): " + strings.Join(syncDownPods, ", ")
	}
	set(routingv1alpha1.ConditionDegraded, degraded, reason, msg)

	ready := wOK && cOK && len(o.Workers) > 0
	switch {
	case ready:
		set(routingv1alpha1.ConditionReady, true, "Synced",
			fmt.Sprintf("%d ready workers on %d router replicas", len(o.Workers), n))
	case degraded:
		set(routingv1alpha1.ConditionReady, false, reason, msg)
	default:
		set(routingv1alpha1.ConditionReady, false, "Syncing", "router replicas are being brought in sync")
	}
	return st
}

// poolStatus counts each pool's ready workers, in the spec's order.
func poolStatus(pools []routingv1alpha1.WorkerPool, workers []DesiredWorker) []routingv1alpha1.WorkerPoolStatus {
	count := map[string]int32{}
	for _, w := range workers {
		count[w.Pool]++
	}
	var out []routingv1alpha1.WorkerPoolStatus
	for _, p := range pools {
		out = append(out, routingv1alpha1.WorkerPoolStatus{Name: p.Name, Role: p.Role, ModelID: p.ModelID,
			ReadyWorkers: count[p.Name]})
	}
	return out
}

// incompletePD says which models served disaggregated (a prefill or decode
// pool names them) lack ready prefill or ready decode workers: their
// requests fail until both are there. Empty when none.
func incompletePD(pools []routingv1alpha1.WorkerPool, workers []DesiredWorker) string {
	type counts struct{ prefill, decode int }
	models := map[string]*counts{}
	for _, p := range pools {
		if p.Role == routingv1alpha1.RolePrefill || p.Role == routingv1alpha1.RoleDecode {
			models[p.ModelID] = &counts{}
		}
	}
	for _, w := range workers {
		if c := models[w.ModelID]; c != nil {
			switch w.Role {
			case routingv1alpha1.RolePrefill:
				c.prefill++
			case routingv1alpha1.RoleDecode:
				c.decode++
			}
		}
	}
	var out []string
	for m, c := range models {
		if c.prefill > 0 && c.decode > 0 {
			continue
		}
		name := fmt.Sprintf("model %s", m)
		if m == "" {
			name = "the pools without modelID"
		}
		out = append(out, fmt.Sprintf("%s: %d prefill and %d decode workers ready (PD needs both)", name,
			c.prefill, c.decode))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}
