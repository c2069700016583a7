// Command manager runs the SGLang Router operator: the SGLangRouter
// controller, with leader election (a coordination.k8s.io Lease) so that
// several replicas run safely, Prometheus metrics and health probes as
// controller-runtime provides them.
package main

import (
	"flag"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	routingv1alpha1 "sglang-router.dev/operator/api/v1alpha1"
	"sglang-router.dev/operator/internal/controller"
)

func main() {
	var (
		metricsAddr, probeAddr, leaderID, leaderNS string
		leaderElect                                bool
		leaseDuration, renewDeadline, retryPeriod  time.Duration
		resyncInterval, statsInterval, callTimeout time.Duration
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Prometheus metrics address (0 turns them off)")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "/healthz and /readyz address (0 turns them off)")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader with a Lease, so that several replicas run safely")
	flag.StringVar(&leaderID, "leader-election-id", "sglang-router-operator.routing.sglang-router.dev",
		"Name of the leader election Lease")
	flag.StringVar(&leaderNS, "leader-election-namespace", "",
		"Namespace of the Lease (default: the pod's namespace; required outside a cluster)")
	flag.DurationVar(&leaseDuration, "leader-elect-lease-duration", 15*time.Second,
		"How long followers wait before taking over a Lease that is not renewed")
	flag.DurationVar(&renewDeadline, "leader-elect-renew-deadline", 10*time.Second,
		"How long the leader keeps trying to renew before it gives up leadership")
	flag.DurationVar(&retryPeriod, "leader-elect-retry-period", 2*time.Second, "How often candidates try the Lease")
	flag.DurationVar(&resyncInterval, "resync-interval", time.Second,
		"How often each router replica's worker list and settings are checked (a restarted router gets them back)")
	flag.DurationVar(&statsInterval, "stats-interval", 15*time.Second,
		"How often router stats are read into the status")
	flag.DurationVar(&callTimeout, "call-timeout", 2*time.Second, "Bound of one admin API call")
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(routingv1alpha1.AddToScheme(scheme))

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              leaderID,
		LeaderElectionNamespace:       leaderNS,
		LeaderElectionReleaseOnCancel: true, // a replica that stops hands over at once
		LeaseDuration:                 &leaseDuration,
		RenewDeadline:                 &renewDeadline,
		RetryPeriod:                   &retryPeriod,
	})
	if err != nil {
		log.Error(err, "cannot create the manager")
		os.Exit(1)
	}
	r := &controller.SGLangRouterReconciler{
		Client:         mgr.GetClient(),
		Scheme:         mgr.GetScheme(),
		Recorder:       mgr.GetEventRecorderFor("sglang-router-operator"),
		ResyncInterval: resyncInterval,
		StatsInterval:  statsInterval,
		CallTimeout:    callTimeout,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		log.Error(err, "cannot set up the controller")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "cannot add the health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "cannot add the readiness check")
		os.Exit(1)
	}
	log.Info("starting", "leaderElection", leaderElect, "resyncInterval", resyncInterval,
		"statsInterval", statsInterval)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}
