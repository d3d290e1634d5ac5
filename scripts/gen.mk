# Regenerates the code derived from schema/*.capnp (see scripts/gen.ts) when a schema file or
# a generator is newer than the outputs. Run from the repository root by the root Makefile
# (make -f scripts/gen.mk DENO=…). The outputs are committed; schema/gen_test.ts fails if they
# are stale.
DENO ?= deno
SCHEMAS := $(wildcard schema/*.capnp)
GENERATORS := scripts/gen.ts scripts/paths.ts schema/codegen/model.ts schema/codegen/c.ts \
  schema/codegen/hot.ts schema/codegen/c_dump.ts
OUTPUTS := $(patsubst schema/%.capnp,schema/gen/%.ts,$(SCHEMAS)) schema/gen/model.ts \
  schema/gen/hot.ts native/gen/joyride_capnp.h native/gen/joyride_capnp.c \
  native/gen/joyride_capnp_dump.c

.PHONY: all
all: $(OUTPUTS)

$(OUTPUTS) &: $(SCHEMAS) $(GENERATORS)
	@command -v capnp >/dev/null || { echo "gen: capnp not found (Debian package capnproto)" >&2; exit 1; }
	@echo "gen: regenerating schema/gen/ and native/gen/ from schema/*.capnp" >&2
	@$(DENO) run -A scripts/gen.ts
