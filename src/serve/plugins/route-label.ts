/** "/v1/models/:model(^[^:/]+)::predict" → "/v1/models/:model:predict" (as clients write it). */
export function routeLabel(url: string | undefined): string {
  return url === undefined ? 'unmatched' : url.replace(/\(\^[^)]*\)/g, '').replace(/::/g, ':');
}
