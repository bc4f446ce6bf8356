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
 * initialization ends, like a parameter. */
typedef enum { VC_PARAMETER, VC_INPUT, VC_OUTPUT, VC_LOCAL, VC_START } VarCausality;

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

/* ---- services of the FMI layer (fmi_common.c) ------------------------------------ */
const VarInfo *model_find_variable(unsigned vr);
void *model_field(void *data, const VarInfo *v);
bool model_fail(ModelContext *ctx, const char *fmt, ...);   /* writes ctx->error, returns false */

#endif
