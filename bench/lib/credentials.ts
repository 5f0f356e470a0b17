/** What the benchmark's stand-ins accept (shared by the worker that runs them and the server's sources). */
export const ACCESS_TOKEN = 'pat-bench-0000000000000000';
export const API_KEY = '00000000000000000000000000000000-us1';
export const LIST_ID = 'bench';
