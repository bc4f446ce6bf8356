/*
 * DieselGenerator -- backup generator with a fuel tank (FMI 3.0 Co-Simulation).
 *
 * Phases: OFF -> STARTING when the grid is lost (and there is fuel); STARTING -> RUNNING
 * after start_delay; RUNNING -> COOLDOWN when the grid returns; COOLDOWN -> OFF after
 * cooldown (or back to RUNNING if the grid is lost again); RUNNING/COOLDOWN -> OFF when
 * the tank runs dry.  While RUNNING the set delivers min(load, rated_power).
 *
 * Fuel use follows the linear fuel curve F = fuel_intercept * rated_power + fuel_slope * P
 * (litres per hour; HOMER's defaults 0.08145 and 0.246 L/h/kW); refuel (L/h) fills the
 * tank up to tank_capacity.  Inputs are held over a step, so fuel is piecewise linear in
 * time and the step is integrated exactly, segment by segment, up to each internal event
 * (start, end of cooldown, empty tank).  When early return is allowed, doStep stops at
 * the first such event.
 */
#include <math.h>
#include <stddef.h>

#include "model.h"

typedef enum { PHASE_OFF = 0, PHASE_STARTING = 1, PHASE_RUNNING = 2, PHASE_COOLDOWN = 3 } Phase;

typedef struct {
    bool grid_available;                                    /* inputs */
    double load, refuel;
    bool running;                                           /* outputs */
    double fuel_left, power;
    int phase;
    double rated_power, tank_capacity, initial_fuel;        /* parameters */
    double start_delay, cooldown, fuel_intercept, fuel_slope;
    double timer;                                           /* local: time in phase */
} Data;

const char MODEL_TOKEN[] = "{5f1e7a02-7c1b-4a35-9d0e-51a11a7e0002}";
const size_t MODEL_DATA_SIZE = sizeof(Data);
const size_t MODEL_STATE_COUNT = 0;
const size_t MODEL_INDICATOR_COUNT = 0;

#define VAR(vr, type, causality, field) {vr, type, causality, offsetof(Data, field), 1}
const VarInfo MODEL_VARIABLES[] = {
    VAR(1, VT_BOOL, VC_INPUT, grid_available),
    VAR(2, VT_FLOAT64, VC_INPUT, load),
    VAR(3, VT_FLOAT64, VC_INPUT, refuel),
    VAR(4, VT_BOOL, VC_OUTPUT, running),
    VAR(5, VT_FLOAT64, VC_OUTPUT, fuel_left),
    VAR(6, VT_FLOAT64, VC_OUTPUT, power),
    VAR(7, VT_INT32, VC_OUTPUT, phase),
    VAR(10, VT_FLOAT64, VC_PARAMETER, rated_power),
    VAR(11, VT_FLOAT64, VC_PARAMETER, tank_capacity),
    VAR(12, VT_FLOAT64, VC_PARAMETER, initial_fuel),
    VAR(13, VT_FLOAT64, VC_PARAMETER, start_delay),
    VAR(14, VT_FLOAT64, VC_PARAMETER, cooldown),
    VAR(15, VT_FLOAT64, VC_PARAMETER, fuel_intercept),
    VAR(16, VT_FLOAT64, VC_PARAMETER, fuel_slope),
    VAR(20, VT_FLOAT64, VC_LOCAL, timer),
};
const size_t MODEL_VARIABLE_COUNT = sizeof MODEL_VARIABLES / sizeof MODEL_VARIABLES[0];

void model_start(void *data) {
    Data *d = data;
    d->grid_available = true;
    d->rated_power = 500.0;
    d->tank_capacity = 2000.0;
    d->initial_fuel = 1000.0;
    d->start_delay = 10.0;
    d->cooldown = 300.0;
    d->fuel_intercept = 0.08145;
    d->fuel_slope = 0.246;
}

static void set_phase(Data *d, Phase phase) {
    d->phase = phase;
    d->timer = 0.0;
}

static void update_outputs(Data *d) {
    d->running = d->phase == PHASE_RUNNING || d->phase == PHASE_COOLDOWN;
    d->power = d->phase == PHASE_RUNNING ? fmin(d->load, d->rated_power) : 0.0;
}

/* Instantaneous reaction to the (held) inputs. */
static void react_to_grid(Data *d) {
    bool lost = !d->grid_available;
    if (d->phase == PHASE_OFF && lost && d->fuel_left > 0) set_phase(d, PHASE_STARTING);
    else if (d->phase == PHASE_STARTING && !lost) set_phase(d, PHASE_OFF);
    else if (d->phase == PHASE_RUNNING && !lost) set_phase(d, PHASE_COOLDOWN);
    else if (d->phase == PHASE_COOLDOWN && lost) set_phase(d, PHASE_RUNNING);
}

bool model_initialize(void *data, ModelContext *ctx) {
    Data *d = data;
    if (!(d->rated_power > 0)) return model_fail(ctx, "rated_power must be > 0 kW, got %g", d->rated_power);
    if (!(d->tank_capacity > 0)) return model_fail(ctx, "tank_capacity must be > 0 L, got %g", d->tank_capacity);
    if (!(d->initial_fuel >= 0 && d->initial_fuel <= d->tank_capacity)) {
        return model_fail(ctx, "initial_fuel must be within [0, %g] L, got %g", d->tank_capacity, d->initial_fuel);
    }
    if (!(d->start_delay >= 0) || !(d->cooldown >= 0)) return model_fail(ctx, "start_delay and cooldown must be >= 0");
    if (!(d->fuel_intercept >= 0) || !(d->fuel_slope >= 0)) return model_fail(ctx, "fuel curve must be >= 0");
    d->fuel_left = d->initial_fuel;
    set_phase(d, PHASE_OFF);
    react_to_grid(d);
    update_outputs(d);
    return true;
}

/* Net fuel flow into the tank in L/s for the current phase and inputs. */
static double fuel_rate(const Data *d) {
    double burn = 0.0;
    if (d->phase == PHASE_RUNNING) burn = d->fuel_intercept * d->rated_power + d->fuel_slope * d->power;
    if (d->phase == PHASE_COOLDOWN) burn = d->fuel_intercept * d->rated_power;
    return (d->refuel - burn) / 3600.0;
}

/* Time until the next internal event, or INFINITY. */
static double time_to_event(const Data *d, double rate) {
    double dt = INFINITY;
    if (d->phase == PHASE_STARTING) dt = d->start_delay - d->timer;
    if (d->phase == PHASE_COOLDOWN) dt = d->cooldown - d->timer;
    if (d->running && rate < 0) dt = fmin(dt, d->fuel_left / -rate);
    return fmax(dt, 0.0);
}

static void fire_event(Data *d) {
    if (d->running && d->fuel_left <= 0) {
        d->fuel_left = 0.0;
        set_phase(d, PHASE_OFF);
    } else if (d->phase == PHASE_STARTING) {
        set_phase(d, PHASE_RUNNING);
    } else if (d->phase == PHASE_COOLDOWN) {
        set_phase(d, PHASE_OFF);
    }
    update_outputs(d);
}

/* Advance by dt within one segment (no event inside): fuel is linear, clipped by the tank. */
static void advance(Data *d, double dt, double rate, bool event_at_end) {
    double fuel = d->fuel_left + rate * dt;
    d->fuel_left = fmin(fmax(fuel, 0.0), d->tank_capacity);
    d->timer += dt;
    if (event_at_end && d->running && rate < 0 && d->fuel_left < 1e-9 * d->tank_capacity) d->fuel_left = 0.0;
}

bool model_step(void *data, ModelContext *ctx, double h, StepResult *r) {
    Data *d = data;
    if (!(d->load >= 0)) return model_fail(ctx, "load must be >= 0 kW, got %g at t=%g", d->load, ctx->time);
    if (!(d->refuel >= 0)) return model_fail(ctx, "refuel must be >= 0 L/h, got %g at t=%g", d->refuel, ctx->time);
    react_to_grid(d);
    update_outputs(d);
    double left = h;
    while (left > 0) {
        double rate = fuel_rate(d);
        double dt = time_to_event(d, rate);
        if (dt > left) {
            advance(d, left, rate, false);
            break;
        }
        advance(d, dt, rate, true);
        left -= dt;
        fire_event(d);
        r->event_encountered = true;
        if (ctx->early_return_allowed && left > 0) {
            ctx->time += h - left;
            r->early_return = true;
            return true;
        }
    }
    return true;
}

/* Event mode (FMI 3): take up changed discrete inputs at once. */
bool model_event(void *data, ModelContext *ctx, EventResult *r) {
    (void)ctx;
    Data *d = data;
    react_to_grid(d);
    update_outputs(d);
    r->terminate = false;
    r->states_changed = false;
    r->next_event_defined = false;
    return true;
}
