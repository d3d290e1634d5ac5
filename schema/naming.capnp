@0xc4f9af04e9864a16;
# The naming/capability server: app registration (token + shared-memory region), resolution of
# server labels ("tcp", "nic", "tcp.1") to endpoints, server announcements, token revocation
# and region grants. Spoken over the naming server's Unix socket (fds travel as SCM_RIGHTS).

using Common = import "common.capnp";

struct RegionInfo {
  # A shared-memory region. The fd itself travels beside the message (SCM_RIGHTS);
  # fdIndex says which of the passed fds it is.
  regionId @0 :UInt32;
  size @1 :UInt64;        # bytes
  generation @2 :UInt32;  # bumped when the region is re-created
  fdIndex @3 :UInt32;
  writable @4 :Bool;
}

enum EndpointKind {
  unixSocket @0;  # `path` is a Unix socket
  ring @1;        # a message ring in region `regionId` at `ringOffset`
}

struct Endpoint {
  kind @0 :EndpointKind;
  path @1 :Text;
  regionId @2 :UInt32;
  ringOffset @3 :UInt64;
}

struct RegisterApp {
  # First message of an app. uid/gid/pid are checked against SO_PEERCRED.
  pid @0 :UInt32;
  uid @1 :UInt32;
  gid @2 :UInt32;
  name @3 :Text;            # argv[0], for status output
  regionSize @4 :UInt64;    # bytes of shared memory the app asks for (0: default)
}

struct RegisterAppResult {
  appId @0 :UInt32;
  token @1 :Data;           # 16 random bytes, never reused
  region @2 :RegionInfo;
}

struct ResolveResult {
  endpoint @0 :Endpoint;
  generation @1 :UInt32;    # current generation of the server behind the label
  pid @2 :UInt32;
}

struct ServerAnnounce {
  # A server (re)starting tells naming where it can be reached.
  label @0 :Text;
  endpoint @1 :Endpoint;
  generation @2 :UInt32;
  pid @3 :UInt32;
}

struct Revoke {
  appId @0 :UInt32;
  token @1 :Data;
  reason @2 :Text;
}

struct RegionGrant {
  # Naming hands an app (or a server acting for one) access to a region.
  appId @0 :UInt32;
  region @1 :RegionInfo;
}

struct NamingRequest {
  header @0 :Common.RequestHeader;
  union {
    registerApp @1 :RegisterApp;
    resolve @2 :Text;               # label
    announce @3 :ServerAnnounce;
    revoke @4 :Revoke;
    grantRegion @5 :RegionGrant;    # from a server: grant this region to appId
    unregister @6 :Void;            # the app (header.appId) is leaving
  }
}

struct NamingReply {
  header @0 :Common.ReplyHeader;
  errno @1 :Int32;
  union {
    none @2 :Void;
    registered @3 :RegisterAppResult;
    resolved @4 :ResolveResult;
    granted @5 :RegionGrant;
  }
}
