/*
 * fmi2_api.c -- the FMI 2.0 API (Co-Simulation and Model Exchange) over model.h.
 * Compiled together with fmi_common.c and one model's model.c into <model>.so.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmi2Functions.h"
#include "fmi_common.h"

typedef struct {
    Core core;
    char name[128];
    fmi2CallbackLogger logger;
    fmi2ComponentEnvironment environment;
    bool logging_on;
} Instance;

static void log_message(Instance *inst, fmi2Status status, const char *category, const char *message) {
    if (inst->logger && (inst->logging_on || status >= fmi2Error)) {
        inst->logger(inst->environment, inst->name, status, category, "%s", message);
    }
}

/* Report ctx.error from `function` and return fmi2Error. */
static fmi2Status fail(Instance *inst, const char *function) {
    char message[400];
    snprintf(message, sizeof message, "%s: %s", function, inst->core.ctx.error);
    log_message(inst, fmi2Error, "logStatusError", message);
    return fmi2Error;
}

static fmi2Status fail_with(Instance *inst, const char *function, const char *reason) {
    model_fail(&inst->core.ctx, "%s", reason);
    return fail(inst, function);
}

static fmi2Status require_mode(Instance *inst, const char *function, int mode) {
    if (inst->core.mode == mode) return fmi2OK;
    return fail_with(inst, function, "illegal call in the current mode");
}

/* ---- common functions ------------------------------------------------------------- */
const char *fmi2GetTypesPlatform(void) { return fmi2TypesPlatform; }
const char *fmi2GetVersion(void) { return fmi2Version; }

fmi2Status fmi2SetDebugLogging(fmi2Component c, fmi2Boolean loggingOn, size_t nCategories,
                               const fmi2String categories[]) {
    (void)nCategories; (void)categories;
    ((Instance *)c)->logging_on = loggingOn != fmi2False;
    return fmi2OK;
}

fmi2Component fmi2Instantiate(fmi2String instanceName, fmi2Type fmuType, fmi2String fmuGUID,
                              fmi2String fmuResourceLocation, const fmi2CallbackFunctions *functions,
                              fmi2Boolean visible, fmi2Boolean loggingOn) {
    (void)fmuResourceLocation; (void)visible;
    if (!fmuGUID || strcmp(fmuGUID, MODEL_TOKEN) != 0) {
        if (functions && functions->logger) {
            functions->logger(functions->componentEnvironment, instanceName, fmi2Error, "logStatusError",
                              "fmi2Instantiate: GUID %s does not match %s", fmuGUID ? fmuGUID : "(null)",
                              MODEL_TOKEN);
        }
        return NULL;
    }
    Instance *inst = calloc(1, sizeof *inst);
    if (!inst) return NULL;
    if (!core_init(&inst->core, fmuType == fmi2CoSimulation)) {
        free(inst);
        return NULL;
    }
    snprintf(inst->name, sizeof inst->name, "%s", instanceName ? instanceName : "");
    if (functions) {
        inst->logger = functions->logger;
        inst->environment = functions->componentEnvironment;
    }
    inst->logging_on = loggingOn != fmi2False;
    return inst;
}

void fmi2FreeInstance(fmi2Component c) {
    Instance *inst = c;
    if (!inst) return;
    core_free(&inst->core);
    free(inst);
}

fmi2Status fmi2SetupExperiment(fmi2Component c, fmi2Boolean toleranceDefined, fmi2Real tolerance,
                               fmi2Real startTime, fmi2Boolean stopTimeDefined, fmi2Real stopTime) {
    (void)toleranceDefined; (void)tolerance; (void)stopTimeDefined; (void)stopTime;
    Instance *inst = c;
    if (require_mode(inst, "fmi2SetupExperiment", MODE_INSTANTIATED) != fmi2OK) return fmi2Error;
    inst->core.ctx.time = startTime;
    return fmi2OK;
}

fmi2Status fmi2EnterInitializationMode(fmi2Component c) {
    Instance *inst = c;
    if (require_mode(inst, "fmi2EnterInitializationMode", MODE_INSTANTIATED) != fmi2OK) return fmi2Error;
    inst->core.mode = MODE_INITIALIZATION;
    return fmi2OK;
}

fmi2Status fmi2ExitInitializationMode(fmi2Component c) {
    Instance *inst = c;
    if (require_mode(inst, "fmi2ExitInitializationMode", MODE_INITIALIZATION) != fmi2OK) return fmi2Error;
    if (!model_initialize(inst->core.data, &inst->core.ctx)) {
        inst->core.mode = MODE_ERROR;
        return fail(inst, "fmi2ExitInitializationMode");
    }
    inst->core.mode = inst->core.co_simulation ? MODE_STEP : MODE_EVENT;
    return fmi2OK;
}

fmi2Status fmi2Terminate(fmi2Component c) {
    ((Instance *)c)->core.mode = MODE_TERMINATED;
    return fmi2OK;
}

fmi2Status fmi2Reset(fmi2Component c) {
    core_reset(&((Instance *)c)->core);
    return fmi2OK;
}

/* ---- getting and setting values --------------------------------------------------- */
static fmi2Status get_values(Instance *inst, const char *function, const fmi2ValueReference vr[],
                             size_t nvr, VarType type, void *out) {
    core_refresh(&inst->core);
    for (size_t i = 0; i < nvr; i++) {
        const VarInfo *v = core_variable(&inst->core, vr[i], type);
        if (!v) return fail(inst, function);
        const void *field = model_field(inst->core.data, v);
        switch (type) {
        case VT_FLOAT64: ((fmi2Real *)out)[i] = *(const double *)field; break;
        case VT_INT32: ((fmi2Integer *)out)[i] = *(const int *)field; break;
        case VT_BOOL: ((fmi2Boolean *)out)[i] = *(const bool *)field ? fmi2True : fmi2False; break;
        case VT_STRING: ((fmi2String *)out)[i] = (const char *)field; break;
        }
    }
    return fmi2OK;
}

static fmi2Status set_values(Instance *inst, const char *function, const fmi2ValueReference vr[],
                             size_t nvr, VarType type, const void *in) {
    for (size_t i = 0; i < nvr; i++) {
        const VarInfo *v = core_variable(&inst->core, vr[i], type);
        if (!v || !core_can_set(&inst->core, v)) return fail(inst, function);
        void *field = model_field(inst->core.data, v);
        switch (type) {
        case VT_FLOAT64: *(double *)field = ((const fmi2Real *)in)[i]; break;
        case VT_INT32: *(int *)field = ((const fmi2Integer *)in)[i]; break;
        case VT_BOOL: *(bool *)field = ((const fmi2Boolean *)in)[i] != fmi2False; break;
        case VT_STRING:
            snprintf((char *)field, MODEL_STRING_CAPACITY, "%s", ((const fmi2String *)in)[i]);
            break;
        }
    }
    return fmi2OK;
}

fmi2Status fmi2GetReal(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, fmi2Real value[]) {
    return get_values(c, "fmi2GetReal", vr, nvr, VT_FLOAT64, value);
}
fmi2Status fmi2GetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, fmi2Integer value[]) {
    return get_values(c, "fmi2GetInteger", vr, nvr, VT_INT32, value);
}
fmi2Status fmi2GetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, fmi2Boolean value[]) {
    return get_values(c, "fmi2GetBoolean", vr, nvr, VT_BOOL, value);
}
fmi2Status fmi2GetString(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, fmi2String value[]) {
    return get_values(c, "fmi2GetString", vr, nvr, VT_STRING, value);
}
fmi2Status fmi2SetReal(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, const fmi2Real value[]) {
    return set_values(c, "fmi2SetReal", vr, nvr, VT_FLOAT64, value);
}
fmi2Status fmi2SetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                          const fmi2Integer value[]) {
    return set_values(c, "fmi2SetInteger", vr, nvr, VT_INT32, value);
}
fmi2Status fmi2SetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                          const fmi2Boolean value[]) {
    return set_values(c, "fmi2SetBoolean", vr, nvr, VT_BOOL, value);
}
fmi2Status fmi2SetString(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, const fmi2String value[]) {
    return set_values(c, "fmi2SetString", vr, nvr, VT_STRING, value);
}

/* ---- FMU state -------------------------------------------------------------------- */
fmi2Status fmi2GetFMUstate(fmi2Component c, fmi2FMUstate *FMUstate) {
    Instance *inst = c;
    if (*FMUstate) {
        core_snapshot_update(&inst->core, *FMUstate);
        return fmi2OK;
    }
    *FMUstate = core_snapshot(&inst->core);
    return *FMUstate ? fmi2OK : fail_with(inst, "fmi2GetFMUstate", "out of memory");
}

fmi2Status fmi2SetFMUstate(fmi2Component c, fmi2FMUstate FMUstate) {
    Instance *inst = c;
    if (!FMUstate) return fail_with(inst, "fmi2SetFMUstate", "null FMU state");
    return core_restore(&inst->core, FMUstate, core_snapshot_size()) ? fmi2OK : fail(inst, "fmi2SetFMUstate");
}

fmi2Status fmi2FreeFMUstate(fmi2Component c, fmi2FMUstate *FMUstate) {
    (void)c;
    free(*FMUstate);
    *FMUstate = NULL;
    return fmi2OK;
}

fmi2Status fmi2SerializedFMUstateSize(fmi2Component c, fmi2FMUstate FMUstate, size_t *size) {
    (void)c; (void)FMUstate;
    *size = core_snapshot_size();
    return fmi2OK;
}

fmi2Status fmi2SerializeFMUstate(fmi2Component c, fmi2FMUstate FMUstate, fmi2Byte serializedState[],
                                 size_t size) {
    Instance *inst = c;
    if (size != core_snapshot_size()) return fail_with(inst, "fmi2SerializeFMUstate", "wrong buffer size");
    memcpy(serializedState, FMUstate, size);
    return fmi2OK;
}

fmi2Status fmi2DeSerializeFMUstate(fmi2Component c, const fmi2Byte serializedState[], size_t size,
                                   fmi2FMUstate *FMUstate) {
    Instance *inst = c;
    Core probe = inst->core; /* validate the bytes without touching the instance */
    void *scratch = malloc(MODEL_DATA_SIZE);
    if (!scratch) return fail_with(inst, "fmi2DeSerializeFMUstate", "out of memory");
    probe.data = scratch;
    bool ok = core_restore(&probe, serializedState, size);
    free(scratch);
    if (!ok) {
        inst->core.ctx = probe.ctx;
        return fail(inst, "fmi2DeSerializeFMUstate");
    }
    if (!*FMUstate) *FMUstate = malloc(size);
    if (!*FMUstate) return fail_with(inst, "fmi2DeSerializeFMUstate", "out of memory");
    memcpy(*FMUstate, serializedState, size);
    return fmi2OK;
}

fmi2Status fmi2GetDirectionalDerivative(fmi2Component c, const fmi2ValueReference vUnknown_ref[],
                                        size_t nUnknown, const fmi2ValueReference vKnown_ref[], size_t nKnown,
                                        const fmi2Real dvKnown[], fmi2Real dvUnknown[]) {
    (void)vUnknown_ref; (void)nUnknown; (void)vKnown_ref; (void)nKnown; (void)dvKnown; (void)dvUnknown;
    return fail_with(c, "fmi2GetDirectionalDerivative", "not provided");
}

/* ---- Model Exchange --------------------------------------------------------------- */
fmi2Status fmi2EnterEventMode(fmi2Component c) {
    ((Instance *)c)->core.mode = MODE_EVENT;
    return fmi2OK;
}

fmi2Status fmi2NewDiscreteStates(fmi2Component c, fmi2EventInfo *eventInfo) {
    Instance *inst = c;
    if (require_mode(inst, "fmi2NewDiscreteStates", MODE_EVENT) != fmi2OK) return fmi2Error;
    EventResult r = {0};
    if (!model_event(inst->core.data, &inst->core.ctx, &r)) return fail(inst, "fmi2NewDiscreteStates");
    eventInfo->newDiscreteStatesNeeded = fmi2False;
    eventInfo->terminateSimulation = r.terminate ? fmi2True : fmi2False;
    eventInfo->nominalsOfContinuousStatesChanged = fmi2False;
    eventInfo->valuesOfContinuousStatesChanged = r.states_changed ? fmi2True : fmi2False;
    eventInfo->nextEventTimeDefined = r.next_event_defined ? fmi2True : fmi2False;
    eventInfo->nextEventTime = r.next_event_time;
    return fmi2OK;
}

fmi2Status fmi2EnterContinuousTimeMode(fmi2Component c) {
    ((Instance *)c)->core.mode = MODE_CONTINUOUS_TIME;
    return fmi2OK;
}

fmi2Status fmi2CompletedIntegratorStep(fmi2Component c, fmi2Boolean noSetFMUStatePriorToCurrentPoint,
                                       fmi2Boolean *enterEventMode, fmi2Boolean *terminateSimulation) {
    (void)c; (void)noSetFMUStatePriorToCurrentPoint;
    *enterEventMode = fmi2False;
    *terminateSimulation = fmi2False;
    return fmi2OK;
}

fmi2Status fmi2SetTime(fmi2Component c, fmi2Real time) {
    ((Instance *)c)->core.ctx.time = time;
    return fmi2OK;
}

static fmi2Status check_count(Instance *inst, const char *function, size_t n, size_t expected) {
    if (n == expected) return fmi2OK;
    model_fail(&inst->core.ctx, "expected %zu values, got %zu", expected, n);
    return fail(inst, function);
}

fmi2Status fmi2SetContinuousStates(fmi2Component c, const fmi2Real x[], size_t nx) {
    Instance *inst = c;
    if (check_count(inst, "fmi2SetContinuousStates", nx, MODEL_STATE_COUNT) != fmi2OK) return fmi2Error;
    model_set_states(inst->core.data, x);
    return fmi2OK;
}

fmi2Status fmi2GetDerivatives(fmi2Component c, fmi2Real derivatives[], size_t nx) {
    Instance *inst = c;
    if (check_count(inst, "fmi2GetDerivatives", nx, MODEL_STATE_COUNT) != fmi2OK) return fmi2Error;
    model_derivatives(inst->core.data, &inst->core.ctx, derivatives);
    return fmi2OK;
}

fmi2Status fmi2GetEventIndicators(fmi2Component c, fmi2Real eventIndicators[], size_t ni) {
    Instance *inst = c;
    if (check_count(inst, "fmi2GetEventIndicators", ni, MODEL_INDICATOR_COUNT) != fmi2OK) return fmi2Error;
    model_indicators(inst->core.data, &inst->core.ctx, eventIndicators);
    return fmi2OK;
}

fmi2Status fmi2GetContinuousStates(fmi2Component c, fmi2Real x[], size_t nx) {
    Instance *inst = c;
    if (check_count(inst, "fmi2GetContinuousStates", nx, MODEL_STATE_COUNT) != fmi2OK) return fmi2Error;
    model_get_states(inst->core.data, x);
    return fmi2OK;
}

fmi2Status fmi2GetNominalsOfContinuousStates(fmi2Component c, fmi2Real x_nominal[], size_t nx) {
    Instance *inst = c;
    if (check_count(inst, "fmi2GetNominalsOfContinuousStates", nx, MODEL_STATE_COUNT) != fmi2OK) {
        return fmi2Error;
    }
    model_get_nominals(inst->core.data, x_nominal);
    return fmi2OK;
}

/* ---- Co-Simulation ---------------------------------------------------------------- */
fmi2Status fmi2SetRealInputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                                       const fmi2Integer order[], const fmi2Real value[]) {
    Instance *inst = c;
    for (size_t i = 0; i < nvr; i++) {
        if (!model_set_input_derivative(inst->core.data, &inst->core.ctx, vr[i], order[i], value[i])) {
            return fail(inst, "fmi2SetRealInputDerivatives");
        }
    }
    return fmi2OK;
}

fmi2Status fmi2GetRealOutputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                                        const fmi2Integer order[], fmi2Real value[]) {
    (void)vr; (void)nvr; (void)order; (void)value;
    return fail_with(c, "fmi2GetRealOutputDerivatives", "output derivatives are not supported");
}

fmi2Status fmi2DoStep(fmi2Component c, fmi2Real currentCommunicationPoint, fmi2Real communicationStepSize,
                      fmi2Boolean noSetFMUStatePriorToCurrentPoint) {
    (void)noSetFMUStatePriorToCurrentPoint;
    Instance *inst = c;
    ModelContext *ctx = &inst->core.ctx;
    if (require_mode(inst, "fmi2DoStep", MODE_STEP) != fmi2OK) return fmi2Error;
    if (fabs(currentCommunicationPoint - ctx->time) > 1e-9 * fmax(1.0, fabs(ctx->time))) {
        model_fail(ctx, "communication point %.17g differs from the FMU time %.17g", currentCommunicationPoint,
                   ctx->time);
        return fail(inst, "fmi2DoStep");
    }
    if (!(communicationStepSize >= 0.0)) {
        model_fail(ctx, "negative step size %g", communicationStepSize);
        return fail(inst, "fmi2DoStep");
    }
    ctx->time = currentCommunicationPoint;
    StepResult r = {0};
    if (!model_step(inst->core.data, ctx, communicationStepSize, &r)) return fail(inst, "fmi2DoStep");
    ctx->time = currentCommunicationPoint + communicationStepSize;
    return fmi2OK;
}

fmi2Status fmi2CancelStep(fmi2Component c) {
    return fail_with(c, "fmi2CancelStep", "asynchronous steps are not supported");
}

fmi2Status fmi2GetStatus(fmi2Component c, const fmi2StatusKind s, fmi2Status *value) {
    (void)c; (void)s;
    *value = fmi2OK;
    return fmi2OK;
}

fmi2Status fmi2GetRealStatus(fmi2Component c, const fmi2StatusKind s, fmi2Real *value) {
    Instance *inst = c;
    if (s != fmi2LastSuccessfulTime) return fail_with(inst, "fmi2GetRealStatus", "unsupported status kind");
    *value = inst->core.ctx.time;
    return fmi2OK;
}

fmi2Status fmi2GetIntegerStatus(fmi2Component c, const fmi2StatusKind s, fmi2Integer *value) {
    (void)s; (void)value;
    return fail_with(c, "fmi2GetIntegerStatus", "unsupported status kind");
}

fmi2Status fmi2GetBooleanStatus(fmi2Component c, const fmi2StatusKind s, fmi2Boolean *value) {
    Instance *inst = c;
    if (s != fmi2Terminated) return fail_with(inst, "fmi2GetBooleanStatus", "unsupported status kind");
    *value = fmi2False;
    return fmi2OK;
}

fmi2Status fmi2GetStringStatus(fmi2Component c, const fmi2StatusKind s, fmi2String *value) {
    (void)s; (void)value;
    return fail_with(c, "fmi2GetStringStatus", "unsupported status kind");
}
