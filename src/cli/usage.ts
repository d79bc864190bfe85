// `tsmesh help`: the usage text of every subcommand (what `tsmesh` prints without arguments).
export const USAGE = `tsmesh — a service mesh that speaks Istio

Usage:
  tsmesh validate PATH...  [-o text|json] [--ignore-unknown]
      Validate Istio YAML/JSON files or folders (schema + Istio's rules); "-" reads stdin.
      Exit 0 when all are valid, 1 otherwise.
  tsmesh analyze [PATH...] [-o text|json] [--failure-threshold Error|Warning|Info] [--mesh-config FILE]
      Find problems across resources (Istio's IST0xxx analyzer codes). --mesh-config (istioctl's
      --meshConfigFile) gives the root namespace and the extensionProviders CUSTOM policies name.
      Without PATH (or with --live): the running mesh's effective config (--name, --state-dir).
  tsmesh discovery --config DIR [--config MORE]... [--xds-address 127.0.0.1:15010]
                   [--monitoring-address 127.0.0.1:15014] [--mesh-config FILE] [--state-dir DIR]
                   [--cacerts DIR] [--secure-xds-address 127.0.0.1:15012] [--ca-key-type EC|RSA]
                   [--credentials-dir DIR] [--jwks-fetch-mode hybrid|istiod|envoy]
      Run the control plane (Pilot): watch Istio YAML, serve Envoy xDS v3 over gRPC ADS (SotW and
      Delta) to sidecars, gateways and proxyless gRPC clients. Monitoring: /metrics, /ready,
      /debug/syncz, /debug/config_dump?proxyID=NODE_ID, /debug/mesh.
      Mesh config (Istio's MeshConfig YAML: outboundTrafficPolicy, connectTimeout,
      localityLbSetting, rootNamespace, trustDomain): --mesh-config FILE (istiod's --meshConfig),
      else the ConfigMap istio-system/istio (data.mesh) in the config folders; both are watched, and
      the file, when given, wins (the ConfigMap is then ignored, as istiod does).
      Mesh CA (Citadel): a self-signed root kept in --state-dir (default ~/.tsmesh/default; a stored
      root made for another trust domain or key type is refused), or Istio's plug-in CA folder
      --cacerts DIR (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem; watched). Certificates
      (IstioCertificateService) and xDS over gRPC+TLS on --secure-xds-address ("" turns it off); the
      root bundle agents trust is written to STATE_DIR/istio-ca-root-cert.pem. The mesh API
      (tsmesh apply/get/delete) is served on STATE_DIR/api.sock; applied resources are kept in
      STATE_DIR/applied/, above the config folders.
      --credentials-dir: gateways' credentialName secrets (NAME.crt + NAME.key [+ NAME.ca.crt], or
      NAME/ with tls.crt, tls.key, ca.crt; namespaces/NS/ for namespaces other than istio-system),
      watched, served over SDS as kubernetes://NAME and kubernetes://NAME-cacert.
      --jwks-fetch-mode (istiod's PILOT_JWT_ENABLE_REMOTE_JWKS): who fetches a RequestAuthentication's
      jwksUri — istiod: the control plane, inlined into the proxies' config; envoy: the proxies, through
      the outbound cluster of the URI's host:port; hybrid (default): the proxies when that host:port is
      a mesh service, else the control plane. Keys the control plane fetches are cached and refreshed
      (every 20 min; every minute, doubling, after failures); until they arrive, or when they cannot be
      fetched, tokens of that issuer are rejected.
  tsmesh proxy sidecar|router --ip IP --name NAME [--namespace NS] [--discovery-address 127.0.0.1:15010]
               [--labels k=v,...] [--locality region/zone/subzone] [--bootstrap FILE]
               [--access-log PATH] [--admin-port 15000] [--health-port 15021] [--xds sotw|delta]
               [--concurrency 2] [--app-address IP] [--log-level info] [--component-log-level NAME:LEVEL,...]
               [--prometheus-port 15090] [--status-port 15020] [--app-metrics PORT[/PATH]]
               [--ca-address HOST:PORT --ca-root-cert FILE --credential-file FILE [--service-account default]
                [--trust-domain cluster.local] [--cert-ttl 24h] [--key-type EC|RSA]]
      Run the data plane (Envoy's role) for one workload or as a gateway: config over ADS and/or
      from an Envoy bootstrap; 0.0.0.0 listeners bind --ip; admin on IP:15000, health on IP:15021.
      --bootstrap: Envoy's YAML/JSON: static_resources, dynamic_resources (ADS through a static
      cluster, GRPC = SotW or DELTA_GRPC), node and admin.address (its IP and port); flags given
      explicitly win. A bootstrap proxy opens only the ports the bootstrap names, plus --admin-port
      (on --ip, when the bootstrap has no admin) and --health-port when given.
      --access-log PATH: a default access log (Envoy's default format) for listeners whose config
      names no access_log; without it the proxy logs only what its config asks for (as Istio with
      mesh config accessLogFile empty: nothing). "off" is accepted and is the default.
      --log-level / --component-log-level: Envoy's levels (trace debug info warning error critical
      off) for every logger or some (admin config conn_handler main misc secret upstream); /logging
      changes them at run time.
      --prometheus-port / --status-port: Istio's 15090 (GET /stats/prometheus: the proxy's metrics)
      and pilot-agent's 15020 (/stats/prometheus merged with the app's, /healthz/ready), on --ip;
      opened by default without a bootstrap. --app-metrics: the app's metrics port and path (the
      workload's prometheus.io/port and prometheus.io/path annotations; path default /metrics).
      --app-address: where the workload's app listens (inbound traffic goes to APP_ADDRESS:PORT;
      default 127.0.0.1, as in Istio).
      --ca-address: pilot-agent's role: the proxy makes its key, gets a certificate for
      spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT from the mesh CA (gRPC + TLS, the CA's
      certificate checked against --ca-root-cert, the token in --credential-file sent as a bearer
      credential), serves it as the SDS secrets default and ROOTCA, and renews it at about half
      its lifetime. --ca-root-cert is watched: a changed bundle is trusted without a restart.
  tsmesh up [DIR] [--config EXTRA]... [--xds-address 127.0.0.1:15010] [--monitoring-address 127.0.0.1:15014]
            [--log-dir DIR] [--concurrency 1] [--mesh-config FILE] [--state-dir ~/.tsmesh/default]
            [--cacerts DIR] [--secure-xds-address XDS_HOST:15012] [--ca-key-type EC|RSA]
            [--credentials-dir DIR] [--workload-cert-ttl 24h] [--jwks-fetch-mode hybrid|istiod|envoy]
            [--prometheus [--prometheus-address 127.0.0.2:9090] [--prometheus-scrape-interval 15s]]
            [--name default]
      Run a whole mesh on this machine (default DIR: the bundled bookinfo example): the control plane,
      a gateway for each WorkloadEntry a Gateway selects, and for every other WorkloadEntry a sidecar
      on its 127.x address plus its app (the tsmesh.io/command annotation). Waits until all are
      ready, prints the gateway URLs, applies YAML edits live; Ctrl-C drains and stops everything.
      Mesh config as for discovery (--mesh-config, or an istio ConfigMap in the folders). The mesh CA
      as for discovery, with 15012 on the xDS address's host; each workload gets a credential file
      (STATE_DIR/credentials/, 0600, renewed before it expires) to obtain its certificate with;
      --workload-cert-ttl sets the certificates' lifetime (Istio's SECRET_TTL; renewed at about half).
      Gateway credentials as for discovery; default: a credentials/ folder beside DIR, when there is one.
      --jwks-fetch-mode as for discovery.
      --name: the mesh's name; its state folder is ~/.tsmesh/NAME unless --state-dir, where
      STATE_DIR/mesh.json says where everything runs while it is up (the other commands read it).
      --prometheus: also run Debian's prometheus (package \`prometheus\`; refused when it is not on
      PATH) scraping the control plane (job istiod, :15014/metrics) and every proxy (job
      kubernetes-pods, targets kept in step with the workloads); its data under STATE_DIR/prometheus.
  tsmesh apply -f FILE|DIR|- [-f ...] [-R] [-n NS] [--dry-run=server] [--name NAME | --state-dir DIR]
               [--field-manager NAME]
      kubectl's client-side apply against a running \`tsmesh up\`: creates each resource, or merges the
      file into it as kubectl does (kubectl.kubernetes.io/last-applied-configuration: a field removed
      from the file is removed, fields others set are kept; metadata.generation and resourceVersion
      advance) in the mesh's applied layer, which sits above up's folders and survives restarts
      (STATE_DIR/applied/); a DIR's .yaml, .yml and .json files (-R: its subfolders' too). Every
      document is validated first (the messages of \`tsmesh validate\`); one bad document, or one
      whose metadata.resourceVersion is stale (Conflict), changes nothing. The mesh config ConfigMap
      istio-system/istio and Kubernetes Services apply too; other Kubernetes kinds (Deployment,
      ServiceAccount…) are skipped with a warning each. --field-manager names the writer in managedFields (default
      kubectl-client-side-apply); --server-side is refused. Prints
      \`virtualservice.networking.istio.io/reviews created|configured|unchanged\`.
  tsmesh delete -f FILE|DIR|- [-R] | KIND NAME... [-n NS] [--dry-run=server] [--name NAME | --state-dir DIR]
      kubectl delete: removes applied resources (a resource only a folder defines is named with its
      file: remove it there); the folder's copy, if any, is in force again.
  tsmesh get KIND[,KIND...] [NAME...] | KIND/NAME... [-n NS | -A] [-l SELECTOR] [-o FORMAT] [--show-labels] [-L KEY]
             [--no-headers] [--allow-missing-template-keys=false] [--show-managed-fields]
             [--name NAME | --state-dir DIR]
      kubectl get: the mesh's resources in force, with status (Istio's validationMessages); KIND is
      kubectl's name (vs, virtualservice, virtualservices, virtualservices.networking.istio.io, dr, gw,
      se, we, wg, pa, ra, ap, sidecar, telemetry…; svc: Services; cm: the mesh ConfigMap) or a category
      (istio-io, gateway-api; all: the Services). Tables
      have each CRD's printer columns (vs: GATEWAYS HOSTS AGE); -o wide adds the CRDs' wide columns,
      SOURCE (applied, or FILE:LINE) and the folder copies an applied one SHADOWS; -o yaml|json hide
      metadata.managedFields unless --show-managed-fields.
      -o: wide, yaml, json, name, jsonpath=TEMPLATE, jsonpath-file=FILE, jsonpath-as-json=TEMPLATE
      (kubectl's: \`-o jsonpath='{.status.addresses[0].value}'\`, \`{range .items[*]}{.metadata.name}{"\\n"}{end}\`;
      several objects are a v1 List), custom-columns=NAME:.metadata.name,..., custom-columns-file=FILE.
      -l: a label selector (app=reviews, app!=x, 'app in (a,b)', app, !app), selected by the mesh's API;
      --show-labels adds LABELS, -L KEY a column per label key.
      The mesh is found by its state folder: --state-dir, else ~/.tsmesh/NAME (--name, default
      "default"); its API is the Unix socket STATE_DIR/api.sock, owner-only.
  tsmesh exec WORKLOAD [--name MESH] [--state-dir DIR] [--config DIR]... -- COMMAND [ARGS...]
      Run a command as if inside a workload of the running \`tsmesh up\` mesh: HTTP_PROXY points at
      its sidecar, e.g. \`tsmesh exec productpage-v1 -- curl -s http://reviews:9080/reviews/0\`.
      --config finds the workload in WorkloadEntry folders instead of the running mesh.
  tsmesh tap WORKLOAD [--name MESH] [--state-dir DIR] [--config DIR]... [--admin URL] [--path PREFIX]
             [--method M] [--authority A] [--status 5xx|CODE] [-o text|wide|json]
      Live requests and connections through a workload's proxy (Linkerd's tap), until Ctrl-C: a
      \`req\` and an \`rsp\` line per request (source, destination, method, authority, path, status,
      latency, bytes, response flags), a \`tcp\` line per connection; -o wide adds peer identities,
      the upstream cluster and the route; -o json prints the proxy's JSON lines. Filters apply in the
      proxy, which buffers for a slow reader (drops are reported) and taps nothing while nobody taps.
  Commands that talk to a running mesh find it in the registry \`tsmesh up\` keeps (STATE_DIR/mesh.json):
  the only one running, the one \`up --name MESH\` started (--name), or the one in --state-dir.
  tsmesh proxy-status [WORKLOAD] [--name MESH] [--state-dir DIR] [-o short|json|yaml]
      istioctl proxy-status: per proxy, istiod's CDS/LDS/EDS/RDS/ECDS status (SYNCED, NOT SENT,
      STALE, ERROR after a NACK; IGNORED when not watched). With WORKLOAD: what istiod would send it
      against what its proxy holds (clusters, listeners, routes: Match, or a diff; exit 1 on a diff).
  tsmesh proxy-config cluster|listener|route|endpoint|secret|bootstrap|log|all WORKLOAD
               [--mesh MESH] [--state-dir DIR] [--config DIR]... [--admin URL] [-o short|json|yaml]
               [--fqdn F] [--port P] [--subset S] [--direction inbound|outbound]   (cluster)
               [--address A] [--port P] [--type HTTP|TCP]                          (listener)
               [--name ROUTE]                                                      (route)
               [--address A] [--port P] [--cluster C] [--status HEALTHY|...]       (endpoint)
               [--level LEVEL|NAME:LEVEL,...]                                       (log)
      istioctl proxy-config from the workload's proxy admin (/config_dump; /clusters for endpoint,
      /logging for log), istioctl's filters and columns.
  tsmesh describe pod|workload NAME | service NAME [--name MESH] [--state-dir DIR]
      istioctl x describe: the services a workload serves, the VirtualServices, DestinationRules
      (subsets), Gateways and policies that apply, the mTLS mode, and common mistakes explained.
  tsmesh version [--name MESH] [--state-dir DIR] [-o short|json|yaml]
      client version, and with a running mesh its control plane and data plane versions.
  tsmesh dashboard [envoy|proxy WORKLOAD | controlz | istiod-debug | prometheus] [--name MESH]
      The URLs of the running mesh's pages (nothing to port-forward locally): every proxy's admin,
      istiod's monitoring/debug pages, Prometheus when running; one URL when a dashboard is named.
  tsmesh app NAME [ARGS...]
      Run a bundled sample app (bookinfo's productpage, details, reviews, ratings; httpbin; tcp-echo)
      on HOST:PORT from the environment. \`tsmesh app --help\` lists them.
  tsmesh ratelimit --config FILE|DIR [--redis HOST:PORT | --memory] [--host IP]...
      The global rate-limit service (envoyproxy/ratelimit's config and behaviour) on gRPC 8081, HTTP
      8080, debug 6070; \`tsmesh ratelimit --help\` lists its flags.
  tsmesh help
`;
