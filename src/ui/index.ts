export { DASHBOARD_ACTOR, dashboardApp, startDashboard } from './server.js';
export type {
  Dashboard,
  DashboardActions,
  DashboardOptions,
  DashboardPanel,
  EnvironmentView,
  EnvironmentsSource,
} from './server.js';
