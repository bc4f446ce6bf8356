/*
 * model.h -- the contract between a model and the FMI layer (fmi2_api.c, fmi3_api.c).
 *
 * A model keeps all of its values in one plain struct (no pointers), so that an FMU
 * state is a byte copy of it.  It describes the struct to the FMI layer with a table of
 * variables (value reference, type, causality, offset, element count) and implements the
 * hooks below.  Hooks a model does not need keep their weak defaults (fmi_common.c).
 */
#ifndef FEDERATION_MODEL_H
#define FEDERATION_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#define MODEL_STRING_CAPACITY 64

typedef enum { VT_FLOAT64, VT_INT32, VT_BOOL, VT_STRING } VarType;

/* VC_START: an output or local with initial="exact" (e.g. a state): settable until
 * initialization ends, like a parameter.  VC_TUNABLE: a parameter with variability="tunable",
 * settable at any time (in event mode, FMI 3; at communication points, FMI 2 CS). */
typedef enum { VC_PARAMETER, VC_INPUT, VC_OUTPUT, VC_LOCAL, VC_START, VC_TUNABLE } VarCausality;

/* fmi3IntervalQualifier */
typedef enum { INTERVAL_NOT_YET_KNOWN = 0, INTERVAL_UNCHANGED = 1, INTERVAL_CHANGED = 2 } IntervalQualifier;

typedef struct {
    unsigned vr;            /* value reference, as in modelDescription.xml */
    VarType type;
    VarCausality causality;
    size_t offset;          /* offsetof(Data, field) */
    size_t count;           /* number of elements: 1 for a scalar */
} VarInfo;

/* What the model is told and may report back. */
typedef struct {
    double time;              /* the model's clock, seconds */
    bool early_return_allowed; /* CS: doStep may stop at an internal event */
    char error[256];          /* a hook that fails writes why here and returns false */
} ModelContext;

/* Result of a discrete-state update (ME event, FMI 3 CS event mode). */
typedef struct {
    bool terminate;
    bool states_changed;       /* continuous states were re-initialised */
    bool next_event_defined;
    double next_event_time;
} EventResult;

/* Result of one co-simulation step. */
typedef struct {
    bool event_encountered;    /* an internal event happened in the step */
    bool early_return;         /* the step stopped before its end (ctx->time tells where) */
    bool terminate;
} StepResult;

/* ---- provided by every model ---------------------------------------------------- */
extern const char MODEL_TOKEN[];         /* GUID / instantiation token */
extern const VarInfo MODEL_VARIABLES[];
extern const size_t MODEL_VARIABLE_COUNT;
extern const size_t MODEL_DATA_SIZE;     /* sizeof(Data) */
extern const size_t MODEL_STATE_COUNT;   /* continuous states (ME) */
extern const size_t MODEL_INDICATOR_COUNT; /* event indicators (ME) */

void model_start(void *data);                               /* start values */
bool model_initialize(void *data, ModelContext *ctx);        /* check parameters, set up */

/* ---- optional hooks (weak defaults in fmi_common.c) ------------------------------ */
void model_outputs(void *data, ModelContext *ctx);           /* refresh outputs before a get */
bool model_step(void *data, ModelContext *ctx, double h, StepResult *r); /* CS */
void model_get_states(const void *data, double x[]);         /* ME */
void model_set_states(void *data, const double x[]);
void model_get_nominals(const void *data, double nominals[]);
void model_derivatives(void *data, ModelContext *ctx, double dx[]);
void model_indicators(void *data, ModelContext *ctx, double z[]);
bool model_event(void *data, ModelContext *ctx, EventResult *r); /* discrete update */
/* FMI 2 CS input derivatives (canInterpolateInputs): d^order u / dt^order of input vr, valid from the
 * current communication point until the input is set again.  The default refuses them. */
bool model_set_input_derivative(void *data, ModelContext *ctx, unsigned vr, int order, double value);

/* FMI 3 clocks: the importer activates an input clock (fmi3SetClock, event mode), asks
 * whether an output clock is active (fmi3GetClock), and asks for or sets intervals and
 * shifts (fmi3Get/SetIntervalDecimal, fmi3Get/SetShiftDecimal).  The defaults answer
 * "no such clock". */
bool model_set_clock(void *data, ModelContext *ctx, unsigned vr, bool active);
bool model_get_clock(void *data, ModelContext *ctx, unsigned vr, bool *active);
bool model_get_interval(void *data, ModelContext *ctx, unsigned vr, double *interval, int *qualifier);
bool model_get_shift(void *data, ModelContext *ctx, unsigned vr, double *shift);
bool model_set_interval(void *data, ModelContext *ctx, unsigned vr, double interval);
bool model_set_shift(void *data, ModelContext *ctx, unsigned vr, double shift);

/* ---- services of the FMI layer (fmi_common.c) ------------------------------------ */
const VarInfo *model_find_variable(unsigned vr);
void *model_field(void *data, const VarInfo *v);
bool model_fail(ModelContext *ctx, const char *fmt, ...);   /* writes ctx->error, returns false */

#endif
