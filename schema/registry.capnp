@0xc44f47eb19f7f8c1;
# Server registry (kept by the supervisor), restart notices and heartbeats. Servers send
# heartbeats to the supervisor; the supervisor sends restart notices to everyone who asked,
# so peers re-resolve the restarted server and drop replies from its old generation.

enum ServerKind {
  supervisor @0;
  naming @1;
  nic @2;
  tcp @3;
}

enum ServerState {
  starting @0;
  running @1;
  stopping @2;
  stopped @3;
  crashed @4;
  restarting @5;
}

enum RestartReason {
  crashed @0;           # exited or killed by a signal
  requested @1;         # ./joyride restart
  heartbeatTimeout @2;  # missed heartbeats
}

struct ServerInfo {
  label @0 :Text;          # "tcp", "tcp.1", "nic", …
  kind @1 :ServerKind;
  pid @2 :UInt32;
  generation @3 :UInt32;
  state @4 :ServerState;
  restarts @5 :UInt32;
  startedAtMs @6 :UInt64;  # Unix time, milliseconds
}

struct Heartbeat {
  label @0 :Text;
  pid @1 :UInt32;
  generation @2 :UInt32;
  seq @3 :UInt64;
  load @4 :Float32;        # fraction of time busy since the last heartbeat, 0..1
  queued @5 :UInt32;       # requests waiting
}

struct RestartNotice {
  label @0 :Text;
  kind @1 :ServerKind;
  reason @2 :RestartReason;
  oldPid @3 :UInt32;
  newPid @4 :UInt32;
  oldGeneration @5 :UInt32;
  newGeneration @6 :UInt32;
  exitStatus @7 :Int32;    # exit code, or -signal
}

struct RegistryMessage {
  union {
    heartbeat @0 :Heartbeat;
    restart @1 :RestartNotice;
    query @2 :List(ServerKind);        # ask for the servers of these kinds (empty: all)
    snapshot @3 :List(ServerInfo);     # answer to a query
    subscribe @4 :Void;                # send me restart notices
  }
}
