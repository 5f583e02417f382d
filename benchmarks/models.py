import time, numpy as np
from twintrial.models import get_model
from twintrial.models.simulate import individual_parameters, predict_numpy, simulate_event_times
from twintrial.models.pk_1cmt_oral import regimen_design
def best(f, r=5):
    ts=[]
    for _ in range(r):
        t0=time.perf_counter(); f(); ts.append(time.perf_counter()-t0)
    return min(ts)
rng=np.random.default_rng(0); n=100_000; t=np.linspace(0.5,24,10)
pk=get_model('pk_1cmt_oral')
pop={'mu_ka':np.log(1.5),'mu_CL':np.log(2.8),'mu_V':np.log(32)}
wt=rng.normal(70,12,n); eta=rng.normal(0,0.3,(n,3))
s=best(lambda: individual_parameters(pk,pop,{'wt':wt},eta)); print(f"individual_parameters pk: {n/s:,.0f} patients/s")
pr=individual_parameters(pk,pop,{'wt':wt},eta)
for nd in (1,7):
    des=regimen_design(n,amount=320.,interval=12/nd if nd>1 else 12,n_doses=nd)
    s=best(lambda: predict_numpy(pk,pr,t,des)); print(f"pk predict {nd} dose(s), 10 times: {n/s:,.0f} patients/s ({n*10/s:,.0f} conc/s)")
b=get_model('biomarker_progression', biomarker_center=0.6, hazard_covariates=[{'covariate':'age','center':50,'scale':10}])
pop={'mu_intercept':0.4,'mu_slope':0.1,'mu_treatment_slope':-0.05,'weibull_shape':1.3,'weibull_scale':10.,'association':1.2,'gamma_age':0.3}
age=rng.normal(50,10,n); eta=rng.normal(0,[1,0.2],(n,2))
pr=individual_parameters(b,pop,{'age':age},eta)
des={'treatment':(rng.random(n)<.5).astype(float),'x_age':age}
s=best(lambda: predict_numpy(b,pr,t,des)); print(f"biomarker predict 10 times: {n/s:,.0f} patients/s")
for nodes in (7,15):
    bb=get_model('biomarker_progression', biomarker_center=0.6, n_nodes=nodes, hazard_covariates=[{'covariate':'age','center':50,'scale':10}])
    s=best(lambda: simulate_event_times(bb,pr,des,horizon=12.,rng=np.random.default_rng(1)),3); print(f"event times ({nodes} GL nodes, horizon 12 y): {n/s:,.0f} patients/s")
