/*
 * FrictionBlock -- a block pushed along a floor against Coulomb friction (FMI 3.0 Model Exchange).
 *
 *     stuck:    position' = 0, velocity' = 0             until force > static_friction
 *     sliding:  position' = velocity,
 *               mass velocity' = force - kinetic_friction  until velocity falls to 0
 *
 * The mode is a discrete state: it changes only in event mode.  While stuck, the event
 * indicator is static_friction - force, so a force that *jumps* past the static friction
 * at a communication point sets the block moving only if the importer enters event mode
 * for the jump (FMI 3.0 section 3.1): written in continuous-time mode, the indicator is
 * already negative when the integrator restarts, no sign change is ever seen, and the block
 * stays stuck.  This is the stick-slip of a clutch in its simplest form; ``events`` counts
 * the discrete-state updates.
 */
#include <math.h>
#include <stddef.h>

#include "model.h"

typedef struct {
    double force;                                       /* input */
    double position, velocity;                          /* states */
    double der_position, der_velocity;
    bool sliding;
    double mass, static_friction, kinetic_friction;     /* parameters */
    int events;
    double indicator;
} Data;

const char MODEL_TOKEN[] = "{5f1e7a02-7c1b-4a35-9d0e-51a11a7e0006}";
const size_t MODEL_DATA_SIZE = sizeof(Data);
const size_t MODEL_STATE_COUNT = 2;
const size_t MODEL_INDICATOR_COUNT = 1;

#define VAR(vr, type, causality, field) {vr, type, causality, offsetof(Data, field), 1}
const VarInfo MODEL_VARIABLES[] = {
    VAR(1, VT_FLOAT64, VC_INPUT, force),
    VAR(2, VT_FLOAT64, VC_START, position),
    VAR(3, VT_FLOAT64, VC_LOCAL, der_position),
    VAR(4, VT_FLOAT64, VC_START, velocity),
    VAR(5, VT_FLOAT64, VC_LOCAL, der_velocity),
    VAR(6, VT_BOOL, VC_OUTPUT, sliding),
    VAR(7, VT_FLOAT64, VC_PARAMETER, mass),
    VAR(8, VT_FLOAT64, VC_PARAMETER, static_friction),
    VAR(9, VT_FLOAT64, VC_PARAMETER, kinetic_friction),
    VAR(10, VT_INT32, VC_OUTPUT, events),
    VAR(11, VT_FLOAT64, VC_LOCAL, indicator),
};
const size_t MODEL_VARIABLE_COUNT = sizeof MODEL_VARIABLES / sizeof MODEL_VARIABLES[0];

void model_start(void *data) {
    Data *d = data;
    d->mass = 1.0;
    d->static_friction = 1.0;
    d->kinetic_friction = 0.8;
}

void model_outputs(void *data, ModelContext *ctx) {
    (void)ctx;
    Data *d = data;
    d->der_position = d->sliding ? d->velocity : 0.0;
    d->der_velocity = d->sliding ? (d->force - d->kinetic_friction) / d->mass : 0.0;
    d->indicator = d->sliding ? d->velocity : d->static_friction - d->force;
}

bool model_initialize(void *data, ModelContext *ctx) {
    Data *d = data;
    if (!(d->mass > 0)) return model_fail(ctx, "mass must be > 0 kg, got %g", d->mass);
    if (!(d->kinetic_friction >= 0 && d->kinetic_friction <= d->static_friction))
        return model_fail(ctx, "need 0 <= kinetic_friction <= static_friction, got %g and %g N", d->kinetic_friction,
                          d->static_friction);
    d->sliding = d->velocity > 0 || d->force > d->static_friction;
    model_outputs(d, ctx);
    return true;
}

void model_get_states(const void *data, double x[]) {
    const Data *d = data;
    x[0] = d->position;
    x[1] = d->velocity;
}

void model_set_states(void *data, const double x[]) {
    Data *d = data;
    d->position = x[0];
    d->velocity = x[1];
}

void model_get_nominals(const void *data, double nominals[]) {
    (void)data;
    nominals[0] = nominals[1] = 1.0;
}

void model_derivatives(void *data, ModelContext *ctx, double dx[]) {
    Data *d = data;
    model_outputs(d, ctx);
    dx[0] = d->der_position;
    dx[1] = d->der_velocity;
}

void model_indicators(void *data, ModelContext *ctx, double z[]) {
    Data *d = data;
    model_outputs(d, ctx);
    z[0] = d->indicator;
}

bool model_event(void *data, ModelContext *ctx, EventResult *r) {
    Data *d = data;
    d->events += 1;
    r->terminate = false;
    r->states_changed = false;
    r->next_event_defined = false;
    /* at a state event the indicator is only near zero: a crossing is taken within a tolerance */
    double tolerance = 1e-9 * fmax(1.0, d->static_friction);
    if (!d->sliding && d->force > d->static_friction - tolerance) {
        d->sliding = true;
    } else if (d->sliding && d->velocity <= 1e-9 && d->force <= d->static_friction) {
        d->sliding = false;
        d->velocity = 0.0;
        r->states_changed = true;
    }
    model_outputs(d, ctx);
    return true;
}
